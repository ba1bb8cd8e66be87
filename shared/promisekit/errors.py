"""The toolkit's exceptions: one base class, one subclass per audience."""


class PromiseKitError(Exception):
    """Base of every error the toolkit raises on purpose; its text is one line for a human."""


class RequestInvalid(PromiseKitError):
    """A resource request breaks its API: names the field and the rule it broke."""

    def __init__(self, field: str, rule: str) -> None:
        self.field = field
        self.rule = rule
        super().__init__(f"{field}: {rule}")


class SettingsInvalid(PromiseKitError):
    """The platform settings a pipeline was given are unusable."""


class ContractError(PromiseKitError):
    """The Kratix pipeline contract was not met (missing input, unknown workflow)."""
