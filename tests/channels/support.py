"""Real receivers on loopback for channel tests: an HTTP server that records what it is
sent and answers as scripted, an SMTP server (aiosmtpd) with optional TLS and AUTH, and
builders for notifications and channels."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from sqlalchemy.engine import Engine

from syncmon.alerting.model import Alert, AlertState, Severity
from syncmon.channels import channel_store
from syncmon.channels.base import Action, Notification
from syncmon.channels.registry import store_config
from tests.support.live import free_port

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int | None = None  # what the receiver answered; None if the answer could not be sent
    finished: bool = False  # the handler is done (answered, or found the sender gone)

    @property
    def accepted(self) -> bool:
        """Answered with a 2xx: the receiver took the notification."""
        return self.status is not None and 200 <= self.status < 300

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    hold: threading.Event | None = None  # answer only once this is set (a receiver that hangs)


class Receiver:
    """A ThreadingHTTPServer on 127.0.0.1: records every request and answers with the next
    scripted Reply (then `default`)."""

    def __init__(self, default: Reply | None = None) -> None:
        self.requests: list[Recorded] = []
        self.script: list[Reply] = []
        self.default = default or Reply()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                recorded = Recorded("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with receiver._lock:
                    receiver.requests.append(recorded)
                    reply = receiver.script.pop(0) if receiver.script else receiver.default
                if reply.hold is not None:
                    reply.hold.wait(60)
                recorded.status = reply.status
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:  # the sender went away while the request was held
                    recorded.status = None
                finally:
                    recorded.finished = True

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)

    def then(self, *replies: Reply) -> Receiver:
        self.script.extend(replies)
        return self


class _Sink:
    def __init__(self) -> None:
        self.messages: list[Envelope] = []

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        self.messages.append(envelope)
        return "250 Message accepted for delivery"


class SmtpServer:
    """aiosmtpd on 127.0.0.1. mode: "none" (plain), "starttls" (STARTTLS required) or "tls"
    (implicit TLS); the certificate comes from a CA made for the test (`ca_file`)."""

    def __init__(
        self,
        tmp_path: Path,
        mode: str = "none",
        credentials: tuple[str, str] | None = None,
        refuse: Callable[[str], bool] | None = None,
    ) -> None:
        self.sink = _Sink()
        self.port = free_port()
        self.ca_file: str | None = None
        self.logins: list[str] = []
        kwargs: dict[str, Any] = {}
        if mode != "none":
            ca = trustme.CA()
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
            self.ca_file = str(tmp_path / "smtp-ca.pem")
            ca.cert_pem.write_to_path(self.ca_file)
            if mode == "starttls":
                kwargs.update(tls_context=context, require_starttls=True)
            else:
                kwargs.update(ssl_context=context)
        if credentials is not None:

            def authenticate(
                server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
            ) -> AuthResult:
                ok = (
                    isinstance(data, LoginPassword)
                    and (data.login.decode(), data.password.decode()) == credentials
                )
                if ok:
                    self.logins.append(data.login.decode())
                return AuthResult(success=ok, handled=False)

            # AUTH is required after STARTTLS; aiosmtpd does not see implicit TLS as TLS and warns
            # when AUTH is required without it, so there (and on plain) AUTH is offered, not required.
            starttls = mode == "starttls"
            kwargs.update(authenticator=authenticate, auth_required=starttls, auth_require_tls=starttls)
        if refuse is not None:
            sink = self.sink

            class Refusing(_Sink):
                async def handle_RCPT(
                    self, server: SMTPServer, session: Session, envelope: Envelope, address: str, options: Any
                ) -> str:
                    if refuse(address):
                        return "550 5.1.1 no such user here"
                    envelope.rcpt_tos.append(address)
                    return "250 OK"

                async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
                    sink.messages.append(envelope)
                    return "250 Message accepted for delivery"

            handler: Any = Refusing()
        else:
            handler = self.sink
        self.controller = Controller(handler, hostname="127.0.0.1", port=self.port, **kwargs)

    @property
    def messages(self) -> list[Envelope]:
        return self.sink.messages

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def alert(name: str = "HighErrorRate", state: AlertState = AlertState.FIRING, **labels: str) -> Alert:
    all_labels = {"alertname": name, "severity": "critical", "project": "shop", **labels}
    return Alert(
        labels=all_labels,
        annotations={"summary": f"{name} on {labels.get('route', 'all routes')}"},
        state=state,
        starts_ms=T0,
        ends_ms=T0 + 60_000 if state is AlertState.RESOLVED else None,
        value=0.25,
        rule_id=7,
        generator_url="http://monitor.example/rules/7",
    )


def notification(
    action: Action = Action.TRIGGER,
    *,
    group_key: str = '{}:{alertname="HighErrorRate"}',
    alerts: tuple[Alert, ...] | None = None,
    title: str = "High error rate",
    severity: Severity = Severity.CRITICAL,
) -> Notification:
    if alerts is None:
        state = AlertState.RESOLVED if action is Action.RESOLVE else AlertState.FIRING
        alerts = (alert(route="/api/cart", state=state), alert(route="/api/pay", state=state))
    return Notification(
        group_key=group_key,
        action=action,
        severity=severity,
        title=title,
        text="Error rate above 5% for 5 minutes",
        alerts=alerts,
        group_labels={"alertname": "HighErrorRate"},
        common_labels={"alertname": "HighErrorRate", "severity": "critical", "project": "shop"},
        common_annotations={},
        receiver="ops",
        incident_id=42,
        links={
            "acknowledge": "http://monitor.example/ack/abc",
            "resolve": "http://monitor.example/resolve/abc",
            "incident": "http://monitor.example/incidents/42",
        },
        external_url="http://monitor.example",
    )


def add_channel(engine: Engine, kind: str, config: dict[str, Any], **options: Any) -> int:
    with engine.begin() as conn:
        row = channel_store.create_channel(
            conn,
            name=options.pop("name", f"{kind} channel"),
            kind=kind,
            config=store_config(kind, config),
            now_ms=T0,
            **options,
        )
    return row.id
