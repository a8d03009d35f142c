from flywheel.errors import DomainError


class EvaluationError(DomainError):
    """A rule of evaluation refused an operation."""
