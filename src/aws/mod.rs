//! AWS access: configuration, credentials, clients, call accounting.
//!
//! Owns how fleetcmdb talks to AWS: credentials only from the default chain
//! (env, profile, SSO, web identity, instance/container role) plus STS
//! assume-role for member accounts; one set of clients per account (the
//! region is chosen per call, so an org of N accounts x R regions holds N
//! client sets, not N x R); retries with exponential backoff, each account
//! with its own retry quota (AWS throttles per account); an endpoint
//! override for tests; and a count of every API call made. Credentials are
//! never logged or written anywhere.

pub mod convert;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Settings of the AWS connection, resolved from flags, config file and environment.
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    /// Region for global calls (STS, Organizations); the chain's region, else us-east-1.
    pub region: Option<String>,
    pub member_role: Option<String>,
    pub external_id: Option<String>,
    pub max_attempts: u32,
    pub timeouts: Timeouts,
}

/// Time limits of every AWS call: so a stalled endpoint (one that accepts
/// the connection and never answers) ends the call, and the run, in time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeouts {
    pub connect: Duration,
    /// Each read of an answer (the time between bytes).
    pub read: Duration,
    /// A whole call, retries and backoff included.
    pub operation: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            read: Duration::from_secs(60),
            operation: Duration::from_secs(300),
        }
    }
}

/// Counts API calls by `service:Operation` (the IAM action name).
#[derive(Debug, Default, Clone)]
pub struct CallCounter(Arc<Mutex<BTreeMap<String, u64>>>);

impl CallCounter {
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "fleetcmdb-call-counter"
    }

    fn read_before_transmit(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            let key = format!("{}:{}", m.service().to_ascii_lowercase(), m.name());
            if let Ok(mut map) = self.0.lock() {
                *map.entry(key).or_default() += 1;
            }
        }
        Ok(())
    }
}

/// The shared HTTP client, minus one habit. Every SDK client made from a
/// configuration asks its HTTP client to validate itself, and the hyper
/// client does so by building a throwaway TLS connector (to load
/// certificates early): once per account and service here, 2% of the
/// collector's CPU (docs/performance.md). Connectors are still built, and
/// cached by settings, by the inner client on first use.
#[derive(Debug)]
struct ValidatedOnce(aws_smithy_runtime_api::client::http::SharedHttpClient);

impl aws_smithy_runtime_api::client::http::HttpClient for ValidatedOnce {
    fn http_connector(
        &self,
        settings: &aws_smithy_runtime_api::client::http::HttpConnectorSettings,
        components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
    ) -> aws_smithy_runtime_api::client::http::SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(
        &self,
    ) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// The base configuration: default credential chain, rustls (ring) HTTPS,
/// standard retry (exponential backoff with jitter from 1 s), optional
/// profile and endpoint override.
pub async fn base_config(s: &AwsSettings) -> SdkConfig {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let t = s.timeouts;
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(ValidatedOnce(http))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(t.connect)
                .read_timeout(t.read)
                .operation_attempt_timeout(t.operation.min(t.connect + t.read * 4))
                .operation_timeout(t.operation)
                .build(),
        )
        // Standard, not adaptive: the adaptive mode's client-side rate
        // limiter slows every region of an account after one throttle (the
        // clients are per account), which made a throttled benchmark 4.8x
        // slower than standard mode with the same zero failures
        // (docs/performance.md).
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(s.max_attempts.max(1))
                .with_initial_backoff(Duration::from_millis(1000)),
        );
    if let Some(p) = &s.profile {
        loader = loader.profile_name(p);
    }
    if let Some(e) = &s.endpoint_url {
        loader = loader.endpoint_url(e);
    }
    if let Some(r) = &s.region {
        loader = loader.region(Region::new(r.clone()));
    }
    let conf = loader.load().await;
    if conf.region().is_none() {
        return conf.into_builder().region(Region::new("us-east-1")).build();
    }
    conf
}

/// A runtime for SDK calls made from synchronous code, and the base
/// configuration loaded on it. Every AWS-facing part (collection, S3,
/// DynamoDB, Athena) starts here.
pub fn connect(
    s: &AwsSettings,
) -> Result<(tokio::runtime::Runtime, SdkConfig), crate::error::Error> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("fleetcmdb-aws")
        .enable_all()
        .build()
        .map_err(|e| crate::error::Error::Internal(format!("tokio runtime: {e}")))?;
    let conf = rt.block_on(base_config(s));
    Ok((rt, conf))
}

/// The clients of one account. The region of each call is set per call.
pub struct AccountClients {
    pub ec2: aws_sdk_ec2::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub cloudformation: aws_sdk_cloudformation::Client,
}

impl AccountClients {
    /// The clients of `account`. Each service's retry state (the retry
    /// quota) belongs to the account: AWS throttles per account, so one
    /// account's throttling must not use up the retries of the others, as
    /// the SDK's default partition (one per service, for the whole process)
    /// would: 500 tokens, 5 per retry, for 10,000 accounts.
    pub fn new(conf: &SdkConfig, calls: &CallCounter, account: &str) -> Self {
        let part = |service: &str| retry_partition(service, account);
        AccountClients {
            ec2: Self::ec2(conf, calls, account),
            ssm: aws_sdk_ssm::Client::from_conf(
                aws_sdk_ssm::config::Builder::from(conf)
                    .interceptor(calls.clone())
                    .retry_partition(part("ssm"))
                    .build(),
            ),
            dynamodb: aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(conf)
                    .interceptor(calls.clone())
                    .retry_partition(part("dynamodb"))
                    .build(),
            ),
            cloudformation: aws_sdk_cloudformation::Client::from_conf(
                aws_sdk_cloudformation::config::Builder::from(conf)
                    .interceptor(calls.clone())
                    .retry_partition(part("cloudformation"))
                    .build(),
            ),
        }
    }
}

impl AccountClients {
    /// The EC2 client of `account` alone.
    pub fn ec2(conf: &SdkConfig, calls: &CallCounter, account: &str) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::from_conf(
            aws_sdk_ec2::config::Builder::from(conf)
                .interceptor(calls.clone())
                .retry_partition(retry_partition("ec2", account))
                .build(),
        )
    }
}

/// The retry state of one service in one account (see [`AccountClients::new`]).
fn retry_partition(
    service: &str,
    account: &str,
) -> aws_sdk_dynamodb::config::retry::RetryPartition {
    aws_sdk_dynamodb::config::retry::RetryPartition::custom(format!("{service}-{account}")).build()
}

/// Global clients of the caller (management) account.
pub struct CallerClients {
    pub sts: aws_sdk_sts::Client,
    pub organizations: aws_sdk_organizations::Client,
}

impl CallerClients {
    pub fn new(conf: &SdkConfig, calls: &CallCounter) -> Self {
        CallerClients {
            sts: aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::config::Builder::from(conf)
                    .interceptor(calls.clone())
                    .build(),
            ),
            organizations: aws_sdk_organizations::Client::from_conf(
                aws_sdk_organizations::config::Builder::from(conf)
                    .interceptor(calls.clone())
                    .build(),
            ),
        }
    }
}

/// Credentials of a member role, from STS AssumeRole through our own
/// (counted) STS client. The SDK's identity cache, shared by every client of
/// the account, keeps the session and asks again shortly before it expires.
#[derive(Debug)]
struct AssumeRole {
    sts: aws_sdk_sts::Client,
    arn: String,
    session_name: String,
    external_id: Option<String>,
}

impl ProvideCredentials for AssumeRole {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        use aws_credential_types::provider::error::CredentialsError;
        aws_credential_types::provider::future::ProvideCredentials::new(async move {
            let out = self
                .sts
                .assume_role()
                .role_arn(&self.arn)
                .role_session_name(&self.session_name)
                .set_external_id(self.external_id.clone())
                .duration_seconds(3600)
                .send()
                .await
                .map_err(|e| {
                    CredentialsError::provider_error(format!(
                        "cannot assume {}: {}",
                        self.arn,
                        sdk_error("sts:AssumeRole", &e)
                    ))
                })?;
            let c = out.credentials().ok_or_else(|| {
                CredentialsError::provider_error("AssumeRole returned no credentials")
            })?;
            let expiry = std::time::SystemTime::try_from(*c.expiration()).ok();
            Ok(aws_credential_types::Credentials::new(
                c.access_key_id(),
                c.secret_access_key(),
                Some(c.session_token().to_string()),
                expiry,
                "fleetcmdb-assume-role",
            ))
        })
    }
}

/// A configuration whose credentials are `role` in `account`, assumed from
/// `caller` (the base credentials). Nothing is called until first use.
pub fn assume_role(
    base: &SdkConfig,
    sts: &aws_sdk_sts::Client,
    account: &str,
    role: &str,
    external_id: Option<&str>,
) -> SdkConfig {
    let arn = if role.starts_with("arn:") {
        role.to_string()
    } else {
        format!("arn:aws:iam::{account}:role/{role}")
    };
    let provider = AssumeRole {
        sts: sts.clone(),
        arn,
        session_name: format!("fleetcmdb-inventory-{account}"),
        external_id: external_id.map(str::to_string),
    };
    base.to_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .identity_cache(aws_config::identity::IdentityCache::lazy().build())
        .build()
}

/// An error and its sources, on one line, without the debug noise.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        cur = s.source();
    }
    parts.join(": ")
}

/// A short description of an SDK error: the service's code and message when there is one.
pub fn sdk_error<E>(
    op: &str,
    e: &aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> String
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    match e {
        SdkError::ServiceError(s) => {
            let err = s.err();
            match (err.code(), err.message()) {
                (Some(c), Some(m)) => format!("{op}: {c}: {m}"),
                (Some(c), None) => format!("{op}: {c}"),
                _ => {
                    // An error body the SDK could not parse: say what came back.
                    let raw = s.raw();
                    let body = raw
                        .body()
                        .bytes()
                        .map(|b| String::from_utf8_lossy(b).into_owned())
                        .unwrap_or_default();
                    let body: String = body
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                        .chars()
                        .take(300)
                        .collect();
                    format!("{op}: HTTP {}: {body}", raw.status().as_u16())
                }
            }
        }
        other => format!("{op}: {}", error_chain(other)),
    }
}
