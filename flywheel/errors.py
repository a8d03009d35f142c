class DomainError(ValueError):
    """A rule of the domain refused an operation; the message says what to do instead.

    Services raise subclasses with messages taken from module constants. The API turns them
    into 400s, views show them next to the form, commands print them.
    """
