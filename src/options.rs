//! Every setting that both a flag and `fleetcmdb.toml` can give, declared once.
//!
//! Owns those declarations. One entry names a setting's flag and TOML key
//! (its field name, in kebab case for the flag), its environment variable,
//! its default, its help text and example, and its check. The rest is
//! derived from it:
//!
//! - the clap flags: each group below is an `Args` struct that commands
//!   flatten, with the default, the example and the variable in `--help`;
//! - the keys of the settings file: the same struct, read from TOML
//!   ([`FileConfig::get`]), with unknown keys refused ([`FileConfig::load`]);
//! - the precedence ([`Options::or`]): a flag, else its environment
//!   variable (clap reads it), else the file, else the default (the
//!   generated accessor of the field);
//! - the check of every value given, naming the flag, variable or key it
//!   came from ([`Options::check`]);
//! - the options table of docs/usage.md ([`markdown`]).
//!
//! Reading a group does no I/O but the one read of the settings file.

use std::path::{Path, PathBuf};

use crate::error::Error;

/// One declared setting, as the docs list it.
#[derive(Debug, Clone)]
pub struct Declared {
    /// The TOML key; the flag is `--` and the key in kebab case.
    pub key: &'static str,
    pub env: &'static str,
    pub help: &'static str,
    pub example: &'static str,
    /// The default, as `--help` prints it; None when the help says.
    pub default: Option<String>,
}

impl Declared {
    pub fn flag(&self) -> String {
        format!("--{}", self.key.replace('_', "-"))
    }
}

/// A group of declared settings.
pub trait Options: Sized + Clone + Default + for<'de> serde::Deserialize<'de> {
    /// The settings of the group, in declaration order.
    fn declared() -> Vec<Declared>;
    /// Each setting from `self` when set there, else from `lower`.
    fn or(self, lower: Self) -> Self;
    /// Checks every value that is set; `origin` names where a key's value
    /// came from, for the error.
    fn check(&self, origin: &dyn Fn(&Declared) -> String) -> Result<(), Error>;

    /// The flags (or their variables), checked.
    fn checked(self) -> Result<Self, Error> {
        self.check(&|d| match std::env::var_os(d.env) {
            Some(_) => format!("{} (or {})", d.flag(), d.env),
            None => d.flag(),
        })?;
        Ok(self)
    }
}

/// The text of `--help`: the sentence, the default, an example.
pub fn help(text: &str, default: Option<String>, example: &str, key: &str) -> String {
    let default = default
        .map(|d| format!(" (default {d})"))
        .unwrap_or_default();
    let flag = key.replace('_', "-");
    let example = match example {
        "" => String::new(),
        e => format!(" {e}"),
    };
    format!("{text}{default}. Example: --{flag}{example}")
}

/// Declares groups of settings: see the module's documentation.
///
/// ```text
/// /// Help sentence, without a final full stop.
/// #[arg(value_name = "N")]                      // more clap attributes, if any
/// key: Type = default, env "FLEETCMDB_KEY", example "64", check some_check;
/// ```
/// `= default` and `check …` are optional.
macro_rules! options {
    ($(
        $(#[doc = $sdoc:literal])*
        pub struct $name:ident {
            $(
                #[doc = $doc:literal]
                $(#[arg($($arg:tt)*)])*
                $field:ident: $ty:ty $(= $default:expr)?, env $env:literal, example $example:literal $(, check $check:expr)?;
            )*
        }
    )*) => {
        $(
            $(#[doc = $sdoc])*
            #[derive(Debug, Clone, Default, clap::Args, serde::Deserialize)]
            #[serde(default)]
            pub struct $name {
                $(
                    #[arg(
                        long,
                        env = $env,
                        help = $crate::options::help(
                            $doc.trim(),
                            Option::<String>::None $(.or(Some(($default).to_string())))?,
                            $example,
                            stringify!($field),
                        )
                        $(, $($arg)*)*
                    )]
                    pub $field: Option<$ty>,
                )*
            }

            impl $name {
                $( options!(@get $field: $ty $(= $default)?); )*
            }

            impl $crate::options::Options for $name {
                fn declared() -> Vec<$crate::options::Declared> {
                    vec![$($crate::options::Declared {
                        key: stringify!($field),
                        env: $env,
                        help: $doc.trim(),
                        example: $example,
                        default: Option::<String>::None $(.or(Some(($default).to_string())))?,
                    }),*]
                }

                fn or(self, lower: Self) -> Self {
                    Self { $($field: self.$field.or(lower.$field)),* }
                }

                #[allow(unused_variables)]
                fn check(
                    &self,
                    origin: &dyn Fn(&$crate::options::Declared) -> String,
                ) -> Result<(), $crate::error::Error> {
                    let declared = Self::declared();
                    let mut i = 0;
                    $(
                        $(
                            if let Some(v) = &self.$field {
                                let f: fn(&$ty) -> Result<(), String> = $check;
                                f(v).map_err(|m| $crate::error::Error::Usage(format!(
                                    "{} {:?}: {m}",
                                    origin(&declared[i]),
                                    v
                                )))?;
                            }
                        )?
                        i += 1;
                    )*
                    let _ = i;
                    Ok(())
                }
            }
        )*

        /// Reads and checks every group of a settings file.
        fn check_file(f: &FileConfig) -> Result<(), Error> {
            $( f.get::<$name>()?; )*
            Ok(())
        }

        /// Every group's settings, in declaration order.
        pub fn all() -> Vec<Declared> {
            let mut v = Vec::new();
            $( v.extend(<$name as $crate::options::Options>::declared()); )*
            v
        }
    };
    (@get $field:ident: $ty:ty) => {};
    (@get $field:ident: $ty:ty = $default:expr) => {
        /// The value given, else the default.
        pub fn $field(&self) -> $ty {
            self.$field.clone().unwrap_or_else(|| $default)
        }
    };
}

options! {
    /// Where AWS calls go and how often each is tried.
    pub struct EndpointArgs {
        /// AWS profile (else AWS_PROFILE, else the default chain)
        #[arg(value_name = "NAME")]
        profile: String, env "FLEETCMDB_PROFILE", example "audit";
        /// Send every AWS call to this endpoint (else AWS_ENDPOINT_URL)
        #[arg(value_name = "URL")]
        endpoint_url: String, env "FLEETCMDB_ENDPOINT_URL", example "http://127.0.0.1:5000", check url;
        /// Attempts per AWS call, 1 to 20, with exponential backoff from 1 s for throttling and errors
        #[arg(value_name = "N")]
        max_attempts: u32 = DEFAULT_MAX_ATTEMPTS, env "FLEETCMDB_MAX_ATTEMPTS", example "8", check |n| range(*n as u64, 1, 20);
    }

    /// Time limits of every AWS call.
    pub struct TimeoutArgs {
        /// Seconds to open a connection to an AWS endpoint
        #[arg(value_name = "SECS")]
        connect_timeout: f64 = crate::aws::Timeouts::default().connect.as_secs_f64(), env "FLEETCMDB_CONNECT_TIMEOUT", example "5", check seconds;
        /// Seconds to wait for each read of an answer
        #[arg(value_name = "SECS")]
        read_timeout: f64 = crate::aws::Timeouts::default().read.as_secs_f64(), env "FLEETCMDB_READ_TIMEOUT", example "30", check seconds;
        /// Seconds one AWS call may take in all, retries included
        #[arg(value_name = "SECS")]
        operation_timeout: f64 = crate::aws::Timeouts::default().operation.as_secs_f64(), env "FLEETCMDB_OPERATION_TIMEOUT", example "120", check seconds;
    }

    /// Which accounts and regions a live collection covers, and how.
    pub struct AccountsArgs {
        /// Collect every ACTIVE account of the Organization (from the management or a delegated account); --org=false turns off the file's org = true
        #[arg(value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true", conflicts_with = "accounts")]
        org: bool = false, env "FLEETCMDB_ORG", example "";
        /// Collect these accounts, comma-separated
        #[arg(value_name = "LIST", value_delimiter = ',')]
        accounts: Vec<String>, env "FLEETCMDB_ACCOUNTS", example "111111111111,222222222222", check account_ids;
        /// With --org: only accounts under these OUs (and their children)
        #[arg(value_name = "LIST", value_delimiter = ',')]
        include_ous: Vec<String>, env "FLEETCMDB_INCLUDE_OUS", example "ou-ab12-34cd56ef", check unit_ids;
        /// With --org: skip the accounts under these OUs (and their children)
        #[arg(value_name = "LIST", value_delimiter = ',')]
        exclude_ous: Vec<String>, env "FLEETCMDB_EXCLUDE_OUS", example "ou-ab12-sandbox1", check unit_ids;
        /// Skip these accounts
        #[arg(value_name = "LIST", value_delimiter = ',')]
        exclude_accounts: Vec<String>, env "FLEETCMDB_EXCLUDE_ACCOUNTS", example "333333333333", check account_ids;
        /// External id for the member role
        #[arg(value_name = "ID")]
        external_id: String, env "FLEETCMDB_EXTERNAL_ID", example "cmdb-2026";
        /// Regions, comma-separated, or all (every region enabled in each account)
        #[arg(value_name = "LIST|all", value_delimiter = ',')]
        regions: Vec<String>, env "FLEETCMDB_REGIONS", example "eu-west-1,us-east-1", check regions;
        /// Account/regions collected at once, 1 to 1024
        #[arg(value_name = "N")]
        concurrency: usize = 16, env "FLEETCMDB_CONCURRENCY", example "64", check |n| range(*n as u64, 1, 1024);
        /// Page size asked of paginated AWS APIs (default: each API's own)
        #[arg(value_name = "N")]
        page_size: i32, env "FLEETCMDB_PAGE_SIZE", example "100", check |n| range(*n as u64, 1, 1000);
    }

    /// The role assumed in member accounts.
    pub struct RoleArgs {
        /// Role assumed in every account other than the caller's (name or ARN)
        #[arg(value_name = "ROLE")]
        member_role: String, env "FLEETCMDB_MEMBER_ROLE", example "OrganizationAccountAccessRole", check role;
    }

    /// How a group's resources are named.
    pub struct NamingArgs {
        /// Tag that names an instance's group
        #[arg(value_name = "KEY")]
        group_tag: String = crate::documents::Naming::default().group_tag, env "FLEETCMDB_GROUP_TAG", example "team:cluster", check not_empty;
        /// Name of a group's configuration table; {group} is the group
        #[arg(value_name = "TEMPLATE")]
        configuration_table_template: String = crate::documents::Naming::default().configuration_table, env "FLEETCMDB_CONFIGURATION_TABLE_TEMPLATE", example "'Cfg-{group}'", check template;
        /// Name of a group's scheduler table
        #[arg(value_name = "TEMPLATE")]
        scheduler_table_template: String = crate::documents::Naming::default().scheduler_table, env "FLEETCMDB_SCHEDULER_TABLE_TEMPLATE", example "'Sched-{group}'", check template;
        /// Name of a group's CloudFormation stack
        #[arg(value_name = "TEMPLATE")]
        stack_template: String = crate::documents::Naming::default().stack, env "FLEETCMDB_STACK_TEMPLATE", example "'CloneSquad-{group}'", check template;
    }

    /// S3 server-side encryption of what is written.
    pub struct DestArgs {
        /// S3 server-side encryption of every object written: AES256 or aws:kms
        #[arg(value_name = "AES256|aws:kms")]
        sse: String, env "FLEETCMDB_SSE", example "aws:kms", check sse;
        /// KMS key (id, ARN or alias) for --sse aws:kms (default: the account's aws/s3 key)
        #[arg(value_name = "KEY")]
        kms_key_id: String, env "FLEETCMDB_KMS_KEY_ID", example "alias/cmdb", check not_empty;
    }

    /// Where an export goes, and its history.
    pub struct RunArgs {
        /// Destination: a directory or s3://bucket/prefix; files go under OUT/metadata/
        #[arg(value_name = "DIR|S3URL")]
        out: String = String::from("./cmdb"), env "FLEETCMDB_OUT", example "s3://org-cmdb/prod", check not_empty;
        /// Also take an immutable snapshot of every table under OUT/history/ (at most one per period; see docs/history.md)
        #[arg(value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
        history: bool = false, env "FLEETCMDB_HISTORY", example "";
        /// How often history snapshots are taken: hour or day (the first run of each period takes one)
        #[arg(value_name = "PERIOD", value_enum)]
        history_period: crate::history::Period = crate::history::Period::default(), env "FLEETCMDB_HISTORY_PERIOD", example "day";
    }

    /// When `serve` runs, and how its API is reached.
    pub struct DaemonArgs {
        /// When runs start: cron(…) in UTC, localcron(…) in --timezone, rate(N minutes|hours|days) or disabled (on demand only)
        #[arg(value_name = "EXPR")]
        schedule: String = String::from(DEFAULT_SCHEDULE), env "FLEETCMDB_SCHEDULE", example "'rate(30 minutes)'";
        /// IANA time zone of a localcron() schedule
        #[arg(value_name = "ZONE")]
        timezone: String, env "FLEETCMDB_TIMEZONE", example "Europe/Paris";
        /// Address of the HTTP API; anything but loopback needs --token-file
        #[arg(value_name = "ADDR:PORT")]
        listen: String = String::from("127.0.0.1:9137"), env "FLEETCMDB_LISTEN", example "0.0.0.0:9137", check socket_address;
        /// File holding the bearer token the API requires (its first line)
        #[arg(value_name = "FILE")]
        token_file: PathBuf, env "FLEETCMDB_TOKEN_FILE", example "/run/secrets/cmdb-token";
        /// Seconds allowed, after SIGTERM or SIGINT, for the run in flight to stop and the shutdown backup to be taken
        #[arg(value_name = "SECONDS")]
        shutdown_timeout: f64 = 25.0, env "FLEETCMDB_SHUTDOWN_TIMEOUT", example "25", check |s| seconds_up_to(*s, 3600.0);
    }
}

/// Attempts per AWS call when nothing says otherwise.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

/// `serve`'s schedule when nothing says otherwise: hourly.
pub const DEFAULT_SCHEDULE: &str = "cron(0 * * * ? *)";

/// The checks of the declarations: each takes `&T` of its setting's type
/// `T` (`&String` included) and says what a good value is.
#[allow(clippy::ptr_arg)]
mod checks {
    pub(super) fn range(n: u64, lo: u64, hi: u64) -> Result<(), String> {
        if (lo..=hi).contains(&n) {
            Ok(())
        } else {
            Err(format!("expected {lo} to {hi}"))
        }
    }

    pub(super) fn seconds(s: &f64) -> Result<(), String> {
        seconds_up_to(*s, 86_400.0)
    }

    pub(crate) fn seconds_up_to(s: f64, max: f64) -> Result<(), String> {
        if s.is_finite() && s > 0.0 && s <= max {
            Ok(())
        } else {
            Err(format!("expected seconds greater than 0 and at most {max}"))
        }
    }

    pub(super) fn not_empty(s: &String) -> Result<(), String> {
        if s.is_empty() {
            Err("must not be empty".into())
        } else {
            Ok(())
        }
    }

    pub(super) fn url(s: &String) -> Result<(), String> {
        if s.starts_with("http://") || s.starts_with("https://") {
            Ok(())
        } else {
            Err("expected an http:// or https:// URL".into())
        }
    }

    pub(super) fn template(t: &String) -> Result<(), String> {
        if t.matches("{group}").count() == 1 {
            Ok(())
        } else {
            Err("must contain {group} exactly once".into())
        }
    }

    pub(super) fn account_ids(list: &Vec<String>) -> Result<(), String> {
        match list.iter().find(|a| !crate::partition::is_account_id(a)) {
            Some(a) => Err(format!("{a:?} is not a 12-digit account id")),
            None => Ok(()),
        }
    }

    pub(super) fn unit_ids(list: &Vec<String>) -> Result<(), String> {
        for ou in list {
            let ok = (ou.starts_with("ou-") || ou.starts_with("r-"))
                && crate::partition::PartitionValue::parse(ou, "OU id", "").is_ok();
            if !ok {
                return Err(format!(
                    "{ou:?}: an organizational unit id (ou-…) or root id (r-…)"
                ));
            }
        }
        Ok(())
    }

    pub(super) fn regions(list: &Vec<String>) -> Result<(), String> {
        if list.is_empty() {
            return Err("expected a list of regions, or all".into());
        }
        if list.len() == 1 && list[0] == "all" {
            return Ok(());
        }
        for r in list {
            crate::partition::PartitionValue::parse(r, "region", "--regions")
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    pub(super) fn role(r: &String) -> Result<(), String> {
        let ok = !r.is_empty()
            && r.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-/:".contains(&b));
        if ok {
            Ok(())
        } else {
            Err("expected a role name or ARN".into())
        }
    }

    pub(super) fn sse(s: &String) -> Result<(), String> {
        if s.eq_ignore_ascii_case("AES256") || s.eq_ignore_ascii_case("aws:kms") {
            Ok(())
        } else {
            Err("expected AES256 or aws:kms".into())
        }
    }

    pub(super) fn socket_address(s: &String) -> Result<(), String> {
        s.parse::<std::net::SocketAddr>()
            .map(|_| ())
            .map_err(|e| format!("expected ADDRESS:PORT such as 127.0.0.1:9137 ({e})"))
    }
}
pub(crate) use checks::seconds_up_to;
use checks::*;

/// `fleetcmdb.toml`: any of the keys declared here, which flags override.
#[derive(Debug, Default)]
pub struct FileConfig {
    path: Option<PathBuf>,
    text: String,
}

impl FileConfig {
    /// Reads `path`, or `./fleetcmdb.toml` when no path is given and it
    /// exists, and refuses a key that no setting declares.
    pub fn load(path: Option<&Path>) -> Result<Self, Error> {
        let (path, required) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from("fleetcmdb.toml"), false),
        };
        // A config file is a few lines: anything over 1 MiB, or not a
        // regular file, is refused before it is read.
        let bytes = match crate::input::read_file(&path, 1 << 20) {
            Ok(b) => b,
            Err(Error::NotFound(_)) if !required => return Ok(Self::default()),
            Err(e) => return Err(Error::Usage(format!("config file: {e}"))),
        };
        let text = String::from_utf8(bytes)
            .map_err(|e| Error::Usage(format!("config file {}: not UTF-8: {e}", path.display())))?;
        let table: toml::Table = toml::from_str(&text)
            .map_err(|e| Error::Usage(format!("config file {}: {e}", path.display())))?;
        let known = all();
        for key in table.keys() {
            if !known.iter().any(|d| d.key == key) {
                let keys: Vec<&str> = known.iter().map(|d| d.key).collect();
                return Err(Error::Usage(format!(
                    "config file {}: unknown key `{key}`; the keys are {}",
                    path.display(),
                    keys.join(", ")
                )));
            }
        }
        let f = FileConfig {
            path: Some(path),
            text,
        };
        check_file(&f)?;
        Ok(f)
    }

    /// The group `T` as the file gives it, checked.
    pub fn get<T: Options>(&self) -> Result<T, Error> {
        let Some(path) = &self.path else {
            return Ok(T::default());
        };
        let v: T = toml::from_str(&self.text)
            .map_err(|e| Error::Usage(format!("config file {}: {e}", path.display())))?;
        v.check(&|d| format!("config file {}: {} ({})", path.display(), d.key, d.flag()))?;
        Ok(v)
    }

    /// The flags of group `T` (checked) over the file's.
    pub fn under<T: Options>(&self, flags: &T) -> Result<T, Error> {
        Ok(flags.clone().checked()?.or(self.get()?))
    }
}

/// The options table of docs/usage.md, between its markers.
pub fn markdown() -> String {
    let mut s = String::from(BEGIN);
    s.push_str(
        "\n| flag | `fleetcmdb.toml` key | environment | default | meaning |\n|---|---|---|---|---|\n",
    );
    for d in all() {
        let default = d
            .default
            .as_ref()
            .map(|v| format!("`{v}`"))
            .unwrap_or_default();
        s.push_str(&format!(
            "| `{}` | `{}` | `{}` | {} | {} |\n",
            d.flag(),
            d.key,
            d.env,
            default,
            d.help.replace('|', "\\|")
        ));
    }
    s.push_str(END);
    s
}

pub const BEGIN: &str = "<!-- BEGIN generated options (fleetcmdb::options::markdown) -->";
pub const END: &str = "<!-- END generated options -->";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_flags_and_variables_are_unique_and_follow_one_rule() {
        let all = all();
        let mut keys: Vec<_> = all.iter().map(|d| d.key).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), all.len(), "a key is declared twice");
        for d in &all {
            assert_eq!(d.env, format!("FLEETCMDB_{}", d.key.to_ascii_uppercase()));
            assert!(
                !d.help.ends_with('.'),
                "{}: the help adds the full stop",
                d.key
            );
        }
    }

    #[test]
    fn a_flag_wins_over_the_file_which_wins_over_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.toml");
        std::fs::write(&p, "concurrency = 32\npage_size = 50\n").unwrap();
        let file = FileConfig::load(Some(&p)).unwrap();
        let flags = AccountsArgs {
            concurrency: Some(8),
            ..Default::default()
        };
        let got = file.under(&flags).unwrap();
        assert_eq!(got.concurrency(), 8);
        assert_eq!(got.page_size, Some(50));
        assert_eq!(AccountsArgs::default().concurrency(), 16);
        std::fs::write(&p, "concurrency = 0\n").unwrap();
        // Every group of the file is checked on loading, whichever the
        // command reads.
        let e = FileConfig::load(Some(&p)).unwrap_err().to_string();
        assert!(
            e.contains("f.toml: concurrency (--concurrency) 0: expected 1 to 1024"),
            "{e}"
        );
        std::fs::write(&p, "regionz = 1\n").unwrap();
        let e = FileConfig::load(Some(&p)).unwrap_err().to_string();
        assert!(e.contains("unknown key `regionz`"), "{e}");
    }
}
