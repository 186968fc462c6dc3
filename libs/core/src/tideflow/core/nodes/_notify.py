"""`notify`: tell someone, from a worker: a signed webhook, an email over SMTP, or a
Slack-compatible incoming webhook. Output `{channel, ...}` (see docs/nodes/notify.md)."""

from typing import Any, Literal, Self

from pydantic import Field, model_validator

from tideflow.core._durations import Duration
from tideflow.core.nodes._base import Execution, NodeConfig, NodeType
from tideflow.core.nodes._llm import SECRET_NAME


class SmtpServer(NodeConfig):
    """Where mail is handed over; the password comes from a secret."""

    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password_secret: str | None = Field(default=None, pattern=SECRET_NAME)


class NotifyConfig(NodeConfig):
    """One config for three channels; each checks the fields it needs."""

    channel: Literal["webhook", "email", "slack"]
    # webhook (and slack by URL)
    url: str | None = Field(default=None, description="webhook: where to POST")
    payload: Any = Field(default=None, description="webhook: the JSON body")
    signing_secret: str | None = Field(
        default=None, pattern=SECRET_NAME, description="webhook: secret signing the body"
    )
    headers: dict[str, str] = Field(default_factory=dict)
    # slack
    webhook_secret: str | None = Field(
        default=None, pattern=SECRET_NAME, description="slack: secret holding the webhook URL"
    )
    text: str | None = Field(default=None, description="slack: the message; email: plain body")
    blocks: list[Any] | None = Field(default=None, description="slack: Block Kit blocks")
    # email
    smtp: SmtpServer | None = None
    sender: str | None = Field(default=None, alias="from", description="email: From")
    to: list[str] = Field(default_factory=list)
    cc: list[str] = Field(default_factory=list)
    bcc: list[str] = Field(default_factory=list)
    reply_to: str | None = None
    subject: str | None = None
    html: str | None = Field(default=None, description="email: HTML body")
    timeout: Duration | None = None

    @model_validator(mode="after")
    def _channel_fields(self) -> Self:
        missing: list[str] = []
        if self.channel == "webhook":
            missing = ["url"] if not self.url else []
        elif self.channel == "slack":
            if not (self.url or self.webhook_secret):
                missing.append("webhookSecret (or url)")
            if not (self.text or self.blocks):
                missing.append("text (or blocks)")
        else:
            wanted = {"smtp": self.smtp, "from": self.sender, "to": self.to,
                      "subject": self.subject}  # fmt: skip
            missing = [name for name, value in wanted.items() if not value]
            if not (self.text or self.html):
                missing.append("text (or html)")
        if missing:
            msg = f"the {self.channel} channel needs {', '.join(missing)}"
            raise ValueError(msg)
        return self


NODE_TYPE = NodeType(
    name="notify",
    execution=Execution.DISPATCH,
    config_model=NotifyConfig,
    description="Send a signed webhook, an email (SMTP) or a Slack message.",
)
