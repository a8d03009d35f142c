"""The admin's job form: validates the config per kind and method before anything is queued.
Validation is `config_resolve` (the same the services run); its errors land on their field."""

from __future__ import annotations

from typing import Any

from django import forms

from labeling.models import DatasetSnapshot

from .config import DEFAULT_HYPERPARAMETERS, SCHEDULERS, ConfigError, config_resolve
from .models import JobKind, PeftMethod, TrainingJob

HYPER_FIELDS = list(DEFAULT_HYPERPARAMETERS)
PEFT_FIELDS = [
    "r",
    "lora_alpha",
    "lora_dropout",
    "target_modules",
    "num_virtual_tokens",
    "init",
    "init_text",
    "ensemble_size",
    "ensemble_init_texts",
]


RL_FIELDS = [
    "policy_adapter",
    "reward_adapter",
    "beta",
    "loss_type",
    "long_pairs",
    "kl_coef",
    "response_length",
    "temperature",
    "num_ppo_epochs",
    "mini_batch_size",
    "missing_eos_penalty",
    "num_generations",
]

# Generate jobs (training/generate_config.py); temperature and seed are shared above.
GENERATE_FIELDS = [
    "adapters",
    "include_base",
    "k",
    "max_new_tokens",
    "top_p",
    "create_ranking_tasks",
    "limit",
]


class TrainingJobForm(forms.ModelForm):
    learning_rate = forms.FloatField(
        initial=DEFAULT_HYPERPARAMETERS["learning_rate"],
        help_text="e.g. 2e-4 for LoRA, 1e-5 for full fine-tuning.",
    )
    num_train_epochs = forms.IntegerField(initial=1)
    max_steps = forms.IntegerField(initial=-1, help_text="-1 trains for the epochs above.")
    per_device_train_batch_size = forms.IntegerField(initial=4, label="Batch size per device")
    gradient_accumulation_steps = forms.IntegerField(initial=1)
    max_length = forms.IntegerField(
        initial=1024, help_text="Tokens; longer rows are truncated and counted per task type."
    )
    warmup_ratio = forms.FloatField(initial=0.0)
    weight_decay = forms.FloatField(initial=0.0)
    lr_scheduler_type = forms.ChoiceField(choices=[(s, s) for s in SCHEDULERS], initial="linear")
    logging_steps = forms.IntegerField(initial=1)
    eval_steps = forms.IntegerField(initial=0, help_text="0: evaluate at every logging step.")
    save_steps = forms.IntegerField(
        initial=50, help_text="Checkpoint every N steps; retry resumes from the last."
    )
    seed = forms.IntegerField(initial=42)
    r = forms.IntegerField(
        required=False, initial=16, label="LoRA r", help_text="LoRA, QLoRA and DoRA."
    )
    lora_alpha = forms.FloatField(required=False, initial=32)
    lora_dropout = forms.FloatField(required=False, initial=0.05)
    target_modules = forms.CharField(
        required=False,
        initial="all-linear",
        help_text="'all-linear' or a comma-separated list (q_proj, v_proj).",
    )
    num_virtual_tokens = forms.IntegerField(
        required=False, initial=8, help_text="Prompt tuning only."
    )
    init = forms.ChoiceField(
        required=False,
        choices=[("random", "random"), ("text", "from text")],
        initial="random",
        label="Prompt tuning init",
    )
    init_text = forms.CharField(
        required=False, help_text="Text the virtual tokens start from (init = from text)."
    )
    ensemble_size = forms.IntegerField(
        required=False,
        initial=1,
        help_text="Prompt tuning: soft prompts trained one after another on the frozen base "
        "(member i uses seed + i); 1 trains a single prompt.",
    )
    ensemble_init_texts = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Member init texts",
        help_text="Prompt tuning ensemble: one line per member (line i starts member i); "
        "members without a line use the init above.",
    )

    # Reward, DPO, PPO, GRPO and RLOO settings (training/rl_config.py); blank = the default.
    policy_adapter = forms.IntegerField(
        required=False, help_text="PPO/GRPO/RLOO: id of the SFT adapter to start from."
    )
    reward_adapter = forms.IntegerField(
        required=False, help_text="PPO/GRPO/RLOO: id of the reward model adapter."
    )
    beta = forms.FloatField(required=False, help_text="DPO beta (default 0.1).")
    loss_type = forms.CharField(required=False, help_text="DPO loss: sigmoid, hinge, ipo, robust.")
    long_pairs = forms.ChoiceField(
        required=False,
        choices=[("", "—"), ("drop", "drop (TRL)"), ("truncate", "truncate")],
        help_text="Reward: pairs longer than max length.",
    )
    kl_coef = forms.FloatField(required=False, help_text="PPO/GRPO/RLOO KL coefficient.")
    response_length = forms.IntegerField(required=False, help_text="Tokens per sampled response.")
    temperature = forms.FloatField(required=False)
    num_ppo_epochs = forms.IntegerField(required=False, label="PPO epochs")
    mini_batch_size = forms.IntegerField(required=False, label="PPO minibatch size")
    missing_eos_penalty = forms.FloatField(required=False)
    num_generations = forms.IntegerField(required=False, help_text="GRPO/RLOO group size.")

    # Generate: sample candidates from adapters for the labelers (no training).
    adapters = forms.CharField(
        required=False,
        help_text="Generate: adapter ids to sample from, comma-separated (one base model).",
    )
    include_base = forms.BooleanField(
        required=False, help_text="Generate: also sample from the bare base model."
    )
    k = forms.IntegerField(
        required=False, label="K", help_text="Generate: answers per prompt and source (1 to 16)."
    )
    max_new_tokens = forms.IntegerField(required=False, help_text="Generate: tokens per answer.")
    top_p = forms.FloatField(required=False, label="Top-p", help_text="Generate: nucleus sampling.")
    create_ranking_tasks = forms.BooleanField(
        required=False, help_text="Generate: one ranking task per prompt over all its answers."
    )
    limit = forms.IntegerField(
        required=False, help_text="Generate: only the first N prompts (blank: all)."
    )

    class Meta:
        model = TrainingJob
        fields = ["project", "name", "kind", "base_model", "snapshot", "peft_method"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].initial = JobKind.SFT
        self.fields["peft_method"].initial = PeftMethod.LORA
        self.fields["snapshot"].queryset = DatasetSnapshot.objects.select_related("project")
        self.resolved: dict[str, Any] | None = None

    def peft_values(self) -> dict[str, Any]:
        return {k: self.cleaned_data.get(k) for k in PEFT_FIELDS}

    def hyperparameters(self) -> dict[str, Any]:
        values = {k: self.cleaned_data.get(k) for k in HYPER_FIELDS}
        for key in RL_FIELDS + GENERATE_FIELDS:
            if self.cleaned_data.get(key) not in (None, ""):
                values[key] = self.cleaned_data[key]
        return values

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        snapshot, project = data.get("snapshot"), data.get("project")
        if snapshot and project and snapshot.project_id != project.pk:
            self.add_error("snapshot", "This snapshot belongs to another project.")
        if self.errors or not snapshot:
            return data
        try:
            self.resolved = config_resolve(
                kind=data["kind"],
                base_model=data["base_model"],
                snapshot=snapshot,
                peft_method=data["peft_method"],
                peft_values=self.peft_values(),
                hyperparameters=self.hyperparameters(),
            )
        except ConfigError as exc:
            self.add_error(exc.field if exc.field in self.fields else None, str(exc))
        return data
