"""The one validated settings object (environment prefix ``KYC_``).

Flows, the CLI, the web app and migrations all read configuration from
:func:`get_settings`; no module calls ``os.getenv`` itself.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

#: Project root when running from a checkout; used for project-local defaults.
PROJECT_ROOT = Path(__file__).resolve().parent.parent

DecisionLabel = Literal["PASS", "MANUAL_REVIEW", "FAIL"]
_ALL_DECISIONS: tuple[DecisionLabel, ...] = ("PASS", "MANUAL_REVIEW", "FAIL")


class Settings(BaseSettings):
    """All configuration of the pipeline. Every field maps to ``KYC_<NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix="KYC_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        # A validation error must not print the input: it holds every secret.
        hide_input_in_errors=True,
    )

    environment: Literal["development", "test", "production"] = "development"

    # --- database -------------------------------------------------------------------
    #: Any PostgreSQL (RDS, a local server). Empty: start the embedded PostgreSQL.
    database_url: SecretStr | None = None
    #: Where the embedded PostgreSQL keeps its data (project-local by default).
    embedded_pg_dir: Path = PROJECT_ROOT / "var" / "pgdata"

    # --- landing prefix / storage ----------------------------------------------------
    #: Folder or ``s3://bucket/prefix`` that holds ``incoming/<application_id>/...``.
    landing: str = str(PROJECT_ROOT / "var" / "landing")
    #: Endpoint for S3-compatible stores (MinIO, moto); empty for AWS itself.
    s3_endpoint_url: str | None = None
    aws_region: str = "eu-west-2"
    #: An application still incomplete after this long is reported (dead letter).
    incomplete_timeout_seconds: int = 24 * 3600
    #: A local landing's application is decided only once all its files have stopped
    #: changing for this long (a writer that does not write-then-rename may still be
    #: busy). S3 objects appear whole and do not wait.
    landing_settle_seconds: float = Field(default=2.0, ge=0)

    # --- engines (chosen in kyc.wiring only) -----------------------------------------
    document_engine: Literal["local", "textract"] = "local"
    face_engine: Literal["local", "rekognition"] = "local"
    #: dlib HOG upsampling passes for the (small) document portrait.
    face_upsample: int = Field(default=1, ge=0, le=3)
    #: Compute the local face matcher's ResNet descriptors in a worker process: dlib
    #: holds the GIL for each ~80-140 ms pass, stalling this process's other threads.
    face_descriptor_process: bool = True

    # --- AWS engines: Textract AnalyzeID, Rekognition CompareFaces ---------------------
    # Credentials come from boto3's default chain (environment, profile, instance or
    # task role), never from these settings; the region is ``aws_region``.
    #: Textract endpoint override (a VPC endpoint, or a loopback replay server in
    #: tests); empty: the regional AWS endpoint.
    textract_endpoint_url: str | None = None
    #: Rekognition endpoint override, likewise.
    rekognition_endpoint_url: str | None = None
    #: Attempts per AWS call, the first included, made by botocore's retry handler
    #: (throttling, 5xx, dropped connections); after that the task layer retries.
    aws_max_attempts: int = Field(default=4, ge=1, le=20)
    #: botocore retry mode: ``standard`` (exponential backoff with jitter) or
    #: ``adaptive`` (also rate-limits this client after throttling).
    aws_retry_mode: Literal["standard", "adaptive"] = "standard"
    #: Connect and read timeout per AWS call attempt.
    aws_timeout_seconds: float = Field(default=30.0, gt=0)

    #: Great Expectations suites, one JSON file per document type.
    expectations_dir: Path = PROJECT_ROOT / "expectations"
    #: Run GX in one worker process: the engines keep this process's GIL busy, so
    #: GX's pure-Python validation is cheaper on the other core (see make bench).
    quality_gate_process: bool = True

    # --- decision thresholds -----------------------------------------------------------
    #: Similarity (0-100) at or above which faces match. The local scale is calibrated
    #: (kyc.engines.face_local.distance_to_similarity, `make bench-faces`): 80 = dlib
    #: distance 0.594, where impostors match at FMR <= 0.1 %. Measured on the public
    #: face set, held out (chosen on one identity fold, reported on the other):
    #: FMR 0.09 % (4/4431), FNMR 0.77 % (2/261); photo vs synthetic licence card:
    #: FNMR 0-0.4 %, plus 2.7 % of cards whose portrait face is too small/not found
    #: (FACE_QUALITY_LOW / FACE_NOT_FOUND: review). 80 is also CompareFaces' default.
    #: Issue 14 (seed-14 dev / held-out halves, all pairs): FMR 0.09 % (8/9192) on all
    #: pairs; held out FMR 0 % (0/2015), FNMR 3.08 % (4/130: inconclusive, review).
    face_match_threshold: float = Field(default=80.0, ge=0, le=100)
    #: Below this similarity the faces are a clear mismatch (FAIL); between the two
    #: thresholds the result is inconclusive (MANUAL_REVIEW). 70 = distance 0.661,
    #: FMR <= 1 %; held out: FMR 0.97 % (43/4431), genuine pairs below 70: 0/261.
    face_reject_threshold: float = Field(default=70.0, ge=0, le=100)
    #: Fields read below this confidence are not trusted for a PASS.
    min_field_confidence: float = Field(default=50.0, ge=0, le=100)
    #: Name similarity (0-1) under which a name is a mismatch rather than a variant.
    name_match_threshold: float = Field(default=0.85, ge=0, le=1)
    #: Liveness policy when no liveness evidence exists: ``require`` sends the
    #: application to MANUAL_REVIEW; ``record`` allows PASS and keeps the reason as a
    #: warning (for deployments whose front end checks liveness elsewhere).
    liveness_policy: Literal["require", "record"] = "require"

    # --- liveness (issue 4; engines chosen in kyc.wiring) ----------------------------------
    #: ``local``: the challenge over ``selfie_frames/`` (blink + head turn);
    #: ``rekognition``: AWS Face Liveness results for the form's ``liveness.session_id``.
    #: The local replay check (selfie copied from the document) runs with either.
    liveness_engine: Literal["local", "rekognition"] = "local"
    #: AWS Face Liveness Confidence (0-100) at or above which a SUCCEEDED session passes.
    liveness_confidence_threshold: float = Field(default=80.0, ge=0, le=100)
    #: Endpoint for the Rekognition Face Liveness API (tests: a loopback server).
    liveness_endpoint_url: str | None = None

    # --- professional registers (GMC, GDC, NMC, GPhC) and licence validation ------------
    #: Which RegisterClient looks numbers up: a loaded register extract (``snapshot``,
    #: offline default), the registers' public search pages (``http``), or Apify
    #: actors (``apify``). Chosen in kyc.wiring only.
    register_engine: Literal["snapshot", "http", "apify"] = "snapshot"
    #: A register answer (found / not found) is reused for this long without calling
    #: out again. Unavailable answers are never cached (they are re-checked).
    register_cache_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=0)
    #: Requests per second to any one register (politeness and their rate limits).
    register_rate_per_second: float = Field(default=1.0, gt=0)
    #: Timeout of one HTTP request to a register or to Apify.
    register_timeout_seconds: float = Field(default=10.0, gt=0)
    #: Attempts after the first for 429 / 5xx / timeouts, with exponential backoff.
    register_retries: int = Field(default=3, ge=0)
    register_backoff_seconds: float = Field(default=1.0, ge=0)
    #: A 429's Retry-After longer than this makes the register UNAVAILABLE instead.
    register_max_retry_after_seconds: float = Field(default=60.0, ge=0)
    #: Search URL per register for the ``http`` client; ``{number}`` is replaced.
    #: Defaults are the registers' public search pages; check them before going live.
    register_http_urls: dict[str, str] = {
        "GMC": "https://www.gmc-uk.org/registration-and-licensing/the-medical-register?gmcrefno={number}",
        "GDC": "https://olr.gdc-uk.org/SearchRegister/SearchResult?RegistrationNumber={number}",
        "NMC": "https://www.nmc.org.uk/registration/search-the-register/?pin={number}",
        "GPHC": "https://www.pharmacyregulation.org/registers/pharmacist?number={number}",
    }
    #: Apify API token and base URL (a loopback server in tests).
    apify_token: SecretStr | None = None
    apify_api_url: str = "https://api.apify.com"
    #: Actor id (``user~actor``) per register for the ``apify`` client.
    apify_actors: dict[str, str] = {}
    #: Longest wait for one actor run when polling (the batch flow polls).
    apify_max_wait_seconds: float = Field(default=300.0, gt=0)
    #: Public URL of the Prefect API that Apify's webhook calls to resume a
    #: suspended per-application flow run (``.../api``); empty: poll instead.
    apify_webhook_prefect_api_url: str | None = None
    #: Driver's licence validation: off (``none``), local format/derivation rules
    #: (``local``), or a DLDV-style HTTP service (``http``).
    licence_engine: Literal["none", "local", "http"] = "none"
    licence_http_url: str | None = None
    #: Issuing countries the service covers (DLDV: US licences); others are not sent.
    licence_http_countries: list[str] = ["US", "USA"]
    #: Header carrying the service's credential, and its value (e.g. "Bearer ...").
    licence_http_auth_header: str = "Authorization"
    licence_http_auth_value: SecretStr | None = None
    #: Request body: service field name -> our claim field (see README).
    licence_http_request_map: dict[str, str] = {
        "licenseNumber": "number",
        "dateOfBirth": "date_of_birth",
        "firstName": "first_name",
        "lastName": "last_name",
        "expirationDate": "expiry_date",
        "jurisdiction": "region",
    }
    #: Response: our field -> dotted path of the service's match flag.
    licence_http_response_map: dict[str, str] = {
        "number": "matches.licenseNumber",
        "date_of_birth": "matches.dateOfBirth",
        "first_name": "matches.firstName",
        "last_name": "matches.lastName",
        "expiry_date": "matches.expirationDate",
        "found": "recordFound",
    }

    # --- processing ----------------------------------------------------------------------
    #: Applications processed at once by the batch flow.
    concurrency: int = Field(default=4, ge=1, le=64)
    task_retries: int = Field(default=2, ge=0)
    task_timeout_seconds: float = Field(default=120.0, gt=0)
    #: A worker's claim on an application it is processing holds this long without a
    #: renewal (a heartbeat renews it every third of it). A worker killed mid-way
    #: leaves its claims; another worker takes them over once they run out (at once
    #: when the dead worker ran on the same machine).
    claim_lease_seconds: float = Field(default=300.0, ge=1.0)
    #: An application whose claim was abandoned this many times (each worker holding
    #: it died) is dead-lettered PROCESSING_ABANDONED by the fan-out instead of
    #: being handed to yet another worker.
    claim_max_attempts: int = Field(default=3, ge=1)
    #: Fan-out: ``ingest-landing`` hands its applications to ``process-chunk`` flow
    #: runs of this many applications each, run by the ``kyc-process`` pool's workers
    #: (on as many machines as you start workers on). 0: decide them all in the
    #: ingest run itself (one machine; the default).
    fanout_chunk: int = Field(default=0, ge=0)
    #: How often the fan-out's coordinator looks at its chunks and their claims.
    fanout_poll_seconds: float = Field(default=2.0, gt=0)

    # --- event-driven operation (make up, kyc bridge) -----------------------------------
    #: SQS queue that receives the landing bucket's S3 ObjectCreated notifications;
    #: empty: ``make up`` watches the KYC_LANDING folder instead.
    sqs_queue_url: str | None = None
    #: Dead-letter queue for unreadable notifications (the bridge moves them at once).
    sqs_dlq_url: str | None = None
    #: SQS endpoint for SQS-compatible services (moto, LocalStack); empty for AWS.
    sqs_endpoint_url: str | None = None
    #: PostgreSQL for the Prefect server started by ``make up``; empty: the database
    #: ``prefect`` on the pipeline's own server (KYC_DATABASE_URL's, or the embedded
    #: one), created if missing.
    prefect_database_url: SecretStr | None = None
    #: ``postgresql`` (the default: several API processes, workers and services can
    #: share it) or ``sqlite`` (Prefect's file under var/prefect: one machine only).
    prefect_database: Literal["postgresql", "sqlite"] = "postgresql"
    #: Address ``make up``'s Prefect server listens on. Loopback by default: only this
    #: machine reaches it. Anything else (``0.0.0.0`` so that Apify's webhook can
    #: resume suspended runs) needs KYC_PREFECT_AUTH_STRING outside development.
    prefect_host: str = "127.0.0.1"
    #: ``user:password`` that ``make up``'s Prefect server requires on every API call
    #: but the health probes (Prefect's PREFECT_SERVER_API_AUTH_STRING, HTTP basic
    #: auth) and that its workers, bridge and ``prefect deploy`` send
    #: (PREFECT_API_AUTH_STRING); Apify's resume webhook sends it too. Empty: no
    #: authentication (refused on a non-loopback KYC_PREFECT_HOST outside development).
    prefect_auth_string: SecretStr | None = None
    #: Warm workers ``make up`` starts on this machine (``KYC_WORKERS=N make up``).
    workers: int = Field(default=1, ge=1, le=32)
    #: How often ``make up``'s worker asks for scheduled runs (latency vs API load).
    worker_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    #: ``make up``'s worker: ``warm`` runs flows in one process with the engines
    #: loaded (deployments/warm_worker.py); ``process`` is Prefect's process worker
    #: (a fresh process per run: isolated, but seconds slower to start each run).
    worker: Literal["warm", "process"] = "warm"

    # --- notifications (issue 6; kyc/notify) ----------------------------------------------
    #: Decisions sent to the webhook and SNS. All three by default so that downstream
    #: systems see every outcome, not only the happy path.
    notify_decisions: Annotated[list[DecisionLabel], NoDecode] = Field(
        default_factory=lambda: list(_ALL_DECISIONS)
    )
    #: Receiver of signed decision webhooks (Standard Webhooks). Empty: no webhook.
    webhook_url: str | None = None
    #: Signing secret ``whsec_<base64>`` (Standard Webhooks format).
    webhook_secret: SecretStr | None = None
    #: The previous secret during a rotation: deliveries carry both signatures.
    webhook_previous_secret: SecretStr | None = None
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    #: Attempts per notification (webhook, SNS, email) before it is logged FAILED.
    notify_max_attempts: int = Field(default=4, ge=1, le=20)
    #: First retry delay; doubles per attempt (with jitter), capped by the maximum.
    notify_backoff_seconds: float = Field(default=1.0, ge=0)
    #: Longest wait between attempts, also the cap on a receiver's Retry-After.
    notify_max_delay_seconds: float = Field(default=30.0, ge=0)
    #: SNS topic for decisions and expiry reminders. Empty: no SNS.
    sns_topic_arn: str | None = None
    #: SNS endpoint for compatible services or tests (moto); empty for AWS itself.
    sns_endpoint_url: str | None = None
    #: SMTP server for review and reminder emails. Empty: no email.
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, gt=0, lt=65536)
    #: ``starttls`` (submission, 587), ``ssl`` (implicit TLS, 465) or ``none`` (loopback only).
    smtp_tls: Literal["starttls", "ssl", "none"] = "starttls"
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    #: CA bundle for a private SMTP server certificate; system CAs when empty.
    smtp_ca_file: Path | None = None
    smtp_timeout_seconds: float = Field(default=30.0, gt=0)
    smtp_from: str = "kyc-pipeline@localhost"
    #: Customer-service addresses told about every MANUAL_REVIEW (comma-separated).
    review_email_to: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: Days before a document's expiry at which its holder is reminded.
    expiry_reminder_days: Annotated[list[int], NoDecode] = Field(
        default_factory=lambda: [90, 30, 7]
    )

    # --- web app: review console and intake API (issue 13; kyc/web) ------------------------
    #: Address ``kyc serve`` (and ``make up``) listens on.
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8000, gt=0, lt=65536)
    #: The address users reach the console at (OIDC redirects, status URLs); empty:
    #: taken from each request.
    web_public_url: str | None = None
    #: Session cookies only over HTTPS (``Secure``). Off only for plain-HTTP loopback
    #: development; refused off in production.
    web_secure_cookies: bool = True
    #: A console session ends after this long (sliding is not used: a fixed lifetime).
    web_session_ttl_seconds: int = Field(default=8 * 3600, ge=60)
    #: Failed logins allowed per username and per client address in the window.
    web_login_attempts: int = Field(default=5, ge=1)
    web_login_window_seconds: float = Field(default=300.0, gt=0)
    #: Hours a MANUAL_REVIEW case may wait before it is overdue.
    review_sla_hours: float = Field(default=24.0, gt=0)
    #: Largest uploaded file (bytes), enforced while streaming.
    intake_max_file_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    #: Largest uploaded image (width x height, pixels): a decompression bomb is refused.
    intake_max_pixels: int = Field(default=40_000_000, gt=0)
    #: Requests per minute per API key (token bucket; a burst of the same size).
    intake_rate_per_minute: int = Field(default=120, ge=1)
    #: Lifetime of the presigned S3 PUT URLs of ``POST /v1/uploads`` (S3 landings only).
    intake_presign_expiry_seconds: int = Field(default=900, ge=60, le=7 * 24 * 3600)
    #: How an upload gets decided: ``event`` leaves it to the event path (``make up``'s
    #: folder watcher, or S3 → SQS → bridge); ``inline`` decides it in the web process
    #: (``kyc serve`` alone, no Prefect worker).
    intake_process: Literal["event", "inline"] = "event"
    #: OpenID Connect single sign-on (optional): the issuer's discovery URL base.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    #: ID-token claim holding the console role; users without one get ``viewer``.
    oidc_role_claim: str = "kyc_role"

    # --- encryption at rest (issue 16; kyc/storage/envelope.py) ---------------------------
    #: Master key (base64 of 32 bytes; ``kyc keys generate``) wrapping the data key of
    #: every object the project writes to a local store (AES-256-GCM envelopes).
    store_master_key: SecretStr | None = None
    #: Earlier master keys (comma-separated), still accepted for reading until
    #: ``kyc keys rotate`` has re-wrapped everything under the current one.
    store_previous_master_keys: SecretStr | None = None
    #: An AWS KMS key: S3 uploads use SSE-KMS under it; a local store without a
    #: master key wraps its data keys with it.
    kms_key_id: str | None = None
    #: KMS endpoint override (a VPC endpoint, moto in tests); empty for AWS itself.
    kms_endpoint_url: str | None = None
    #: Refuse an S3 landing bucket without default encryption.
    s3_require_encryption: bool = True
    #: Production refuses a local store without a key unless this says the disk is
    #: encrypted some other way (LUKS, an encrypted EBS volume).
    store_allow_plaintext: bool = False

    # --- retention (issue 16; kyc retention) ---------------------------------------------
    #: Days after an application's final decision (PASS or FAIL) that its objects
    #: (document images, selfies, the form as landed) are kept. Default 5 years: the
    #: UK Money Laundering Regulations 2017 (reg. 40) keep CDD records for 5 years
    #: after the business relationship ends; set what your policy says.
    retention_object_days: int = Field(default=1825, ge=1)
    #: Days after the final decision that face embeddings are kept (duplicate search).
    retention_embedding_days: int = Field(default=1825, ge=1)

    # --- tracing and metrics (issue 15; kyc/telemetry.py, kyc/metrics.py) --------------------
    #: Export OpenTelemetry traces: Prefect's flow and task spans, the stages, SQLAlchemy,
    #: botocore, httpx and the web app, one trace per application. The exporter is OTLP
    #: over HTTP/protobuf, configured by the standard variables (OTEL_EXPORTER_OTLP_ENDPOINT,
    #: OTEL_EXPORTER_OTLP_HEADERS, OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER, ...). Off: the
    #: SDK is not even imported.
    tracing: bool = False
    #: Trace ids X-Ray accepts (time-based, AwsXRayIdGenerator): for the ADOT collector
    #: exporting to AWS X-Ray.
    tracing_xray_ids: bool = False
    #: Port of the Prometheus endpoint of a worker or bridge process (``/metrics`` on
    #: ``metrics_host``); empty: none. The web app serves ``/metrics`` itself.
    metrics_port: int | None = Field(default=None, gt=0, lt=65536)
    metrics_host: str = "127.0.0.1"
    #: Bearer token that the web app's ``/metrics`` requires; empty: ``/metrics`` is off
    #: (404) on the web app, whose port faces users.
    metrics_token: SecretStr | None = None

    # --- demo -------------------------------------------------------------------------------
    #: Public face photos used by the demo generator (../shared/data beside a clone).
    shared_data_dir: Path = PROJECT_ROOT.parent / "shared" / "data"
    #: Password of the demo's console accounts (demo-reviewer, demo-approver). Empty:
    #: ``kyc demo`` makes up a new one each run and prints it once. Never used in
    #: production (the demo makes no accounts there).
    demo_password: SecretStr | None = None

    @field_validator("notify_decisions", "review_email_to", "expiry_reminder_days", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        """Lists come from the environment as ``A,B,C`` (no JSON needed)."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        """Outside development, refuse secrets left at an obvious placeholder."""
        if self.environment != "development":
            for name, value in self._secrets():
                if is_placeholder(value):
                    raise ValueError(
                        f"KYC_{name.upper()} is a placeholder or too short for the"
                        f" {self.environment} environment; set a real secret"
                    )
        if self.webhook_url:
            # Fail at start-up, not on every decision: an unsigned webhook is refused.
            from kyc.notify.webhook import decode_secret

            if self.webhook_secret is None:
                raise ValueError("KYC_WEBHOOK_URL is set but KYC_WEBHOOK_SECRET is not")
            for secret in (self.webhook_secret, self.webhook_previous_secret):
                if secret is not None:
                    decode_secret(secret.get_secret_value())
        if self.environment == "production" and not self.web_secure_cookies:
            raise ValueError("KYC_WEB_SECURE_COOKIES cannot be off in production")
        if self.store_master_key is not None:
            from kyc.storage.envelope import decode_master_key

            decode_master_key(self.store_master_key.get_secret_value())
        if (
            self.environment == "production"
            and not self.landing.startswith("s3://")
            and self.store_master_key is None
            and self.kms_key_id is None
            and not self.store_allow_plaintext
        ):
            raise ValueError(
                "a local landing in production needs KYC_STORE_MASTER_KEY or KYC_KMS_KEY_ID"
                " (or KYC_STORE_ALLOW_PLAINTEXT=true on an encrypted disk)"
            )
        if self.prefect_auth_string is not None and ":" not in (
            self.prefect_auth_string.get_secret_value()
        ):
            # Basic auth: Prefect compares the decoded "user:password" as a whole, but a
            # proxy or a URL with credentials needs both halves.
            raise ValueError("KYC_PREFECT_AUTH_STRING must be user:password")
        if any(days <= 0 for days in self.expiry_reminder_days):
            raise ValueError("KYC_EXPIRY_REMINDER_DAYS must be positive numbers of days")
        if self.face_reject_threshold > self.face_match_threshold:
            raise ValueError("face_reject_threshold must not exceed face_match_threshold")
        return self

    def _secrets(self) -> list[tuple[str, str]]:
        """(setting name, secret value) of every secret that is set.

        A database URL's secret is its password (a URL without one uses peer, trust
        or IAM authentication, which is not a placeholder).
        """
        out = []
        for name in (
            "apify_token",
            "licence_http_auth_value",
            "webhook_secret",
            "webhook_previous_secret",
            "smtp_password",
            "oidc_client_secret",
            "store_master_key",
            "metrics_token",
        ):
            secret = getattr(self, name)
            if secret is not None:
                out.append((name, secret.get_secret_value()))
        if self.prefect_auth_string is not None:
            # Its secret is the password half (the user name is no secret).
            auth_password = self.prefect_auth_string.get_secret_value().partition(":")[2]
            out.append(("prefect_auth_string password", auth_password))
        for name in ("database_url", "prefect_database_url"):
            url = getattr(self, name)
            if url is not None:
                password = _url_password(url.get_secret_value())
                if password is not None:
                    out.append((f"{name} password", password))
        return out


#: Values people leave in configuration files meaning "fill me in".
_PLACEHOLDERS = {
    "changeme", "change-me", "change_me", "secret", "password", "passw0rd", "admin",
    "example", "placeholder", "todo", "xxx", "test", "default", "postgres", "kyc",
    "letmein", "12345678", "123456789",
}  # fmt: skip
#: Shorter secrets are refused outside development (guessable).
MIN_SECRET_LENGTH = 12


def is_placeholder(value: str) -> bool:
    """True for an empty, well-known, templated or short secret."""
    plain = value.strip().lower()
    if len(plain) < MIN_SECRET_LENGTH or plain in _PLACEHOLDERS:
        return True
    if plain.startswith("<") and plain.endswith(">"):  # "<your password here>"
        return True
    return any(marker in plain for marker in ("changeme", "change-me", "placeholder", "${", "xxxx"))


def basic_authorization(auth_string: str) -> str:
    """The ``Authorization`` header value for ``user:password`` (HTTP basic auth).

    What Prefect's client sends for PREFECT_API_AUTH_STRING and its server checks
    against PREFECT_SERVER_API_AUTH_STRING (the base64 of the whole string, UTF-8).
    """
    import base64

    return "Basic " + base64.b64encode(auth_string.encode("utf-8")).decode("ascii")


def _url_password(url: str) -> str | None:
    from urllib.parse import unquote, urlsplit

    try:
        password = urlsplit(url).password
    except ValueError:
        return None
    return unquote(password) if password is not None else None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings (read once from the environment)."""
    return Settings()
