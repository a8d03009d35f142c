from django.core.management.base import BaseCommand

from training.tiny import SIZES, build_tiny_model


class Command(BaseCommand):
    help = "Build a tiny random-weight Llama model and a tokenizer trained on the fly at PATH."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, path: str, size: str, seed: int, **options):
        out = build_tiny_model(path, size=size, seed=seed)
        self.stdout.write(f"Built a {size} Llama model and tokenizer at {out}")
