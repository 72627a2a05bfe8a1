//! A deterministic synthetic organisation (`--demo`).
//!
//! Owns the demo generator: for given accounts, regions, groups and
//! instances, the same seed always gives the same documents, shaped exactly
//! as the AWS CLI prints them. It exercises every column: running and
//! stopped instances, several volumes each, subfleets, windows with and
//! without a next execution, an empty configuration, unicode tag values.

use serde_json::{json, Value};

use super::Source;
use crate::calls::cloudformation::DESCRIBE_STACKS;
use crate::calls::dynamodb::{DESCRIBE_CONTINUOUS_BACKUPS, LIST_TABLES, SCAN};
use crate::calls::ec2::DESCRIBE_INSTANCES;
use crate::calls::ssm::{DESCRIBE_MAINTENANCE_WINDOWS, LIST_WINDOW_TAGS};
use crate::calls::{ApiCall, Demo as CallDemo, DemoRng as Rng};
use crate::documents::{AccountInputs, Body, Doc, Naming, ScopeInputs};
use crate::error::Error;
use crate::partition::Failure;
use crate::partition::{PartitionValue, Scope};

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub accounts: usize,
    pub regions: Vec<String>,
    pub groups_per_region: usize,
    pub instances_per_group: usize,
    pub seed: u64,
    /// Rounds of change applied to the organisation the seed gives: each
    /// stops or starts about one instance in 11, retypes about one in 13,
    /// and edits one configuration value per group. Revision 0 is the seed's.
    pub revision: u32,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            accounts: 4,
            regions: vec!["eu-west-1".into(), "us-east-1".into()],
            groups_per_region: 2,
            instances_per_group: 12,
            seed: 42,
            revision: 0,
        }
    }
}

/// Instances per describe-instances page, as the API pages them.
const PAGE: usize = 1000;
const GROUP_NAMES: [&str; 8] = [
    "web", "api", "batch", "etl", "cache", "search", "ml", "edge",
];
const ACCOUNT_NAMES: [&str; 4] = ["prod-core", "prod-edge", "staging", "sandbox-é"];
/// The demo organisation's units: (id, name, parent), under the root `r-demo`.
const OUS: [(&str, &str, &str); 4] = [
    ("ou-demo-workloads", "Workloads", "r-demo"),
    ("ou-demo-production", "Production", "ou-demo-workloads"),
    ("ou-demo-staging", "Staging", "ou-demo-workloads"),
    ("ou-demo-sandbox", "Sandbox", "r-demo"),
];
const BASE_TIME: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z
/// The account (by index) with no group in any region.
const SANDBOX_ACCOUNT: usize = 3;

/// One API answer page, `{"<key>": [ ... ]}`, written as JSON text.
struct PageText {
    key: &'static str,
    text: Vec<u8>,
    elements: usize,
    /// The last page's length: the next one is allocated at once, not
    /// grown by doubling (pages are megabytes).
    hint: usize,
}

impl PageText {
    fn new(key: &'static str) -> Self {
        PageText {
            key,
            text: Vec::new(),
            elements: 0,
            hint: 0,
        }
    }

    fn raw(&mut self, s: &str) {
        if self.text.is_empty() {
            self.text.reserve(self.hint + self.hint / 8);
            self.text.extend_from_slice(b"{\"");
            self.text.extend_from_slice(self.key.as_bytes());
            self.text.extend_from_slice(b"\":[");
        }
        self.text.extend_from_slice(s.as_bytes());
    }

    fn value(&mut self, v: &(impl serde::Serialize + ?Sized)) {
        self.raw("");
        serde_json::to_writer(&mut self.text, v).expect("values and strings always serialize");
    }

    /// Starts the next array element with raw text.
    fn element_raw(&mut self, s: &str) {
        if self.elements > 0 {
            self.raw(",");
        }
        self.elements += 1;
        self.raw(s);
    }

    fn element(&mut self, v: &Value) {
        self.element_raw("");
        self.value(v);
    }

    /// The finished page; the next element starts a new one.
    fn take(&mut self, origin: String) -> Doc {
        self.raw("]}");
        let text = std::mem::take(&mut self.text);
        self.hint = text.len();
        self.elements = 0;
        Doc {
            origin,
            body: Body::Bytes(text),
        }
    }
}

/// A stable id for a name (one security group and profile per group, as in real fleets).
fn fnv(s: &str) -> u64 {
    crate::stable_hash::fnv1a(s.as_bytes()) & 0xffff_ffff
}

fn iso(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

pub struct Demo {
    pub opts: DemoOptions,
    pub naming: Naming,
}

impl Demo {
    pub fn new(opts: DemoOptions, naming: Naming) -> Result<Self, Error> {
        if opts.accounts == 0 || opts.regions.is_empty() || opts.groups_per_region == 0 {
            return Err(Error::Usage(
                "--demo needs at least one account, region and group".into(),
            ));
        }
        for r in &opts.regions {
            PartitionValue::parse(r, "region", "--demo-regions")?;
        }
        Ok(Demo { opts, naming })
    }

    pub fn account_id(&self, i: usize) -> String {
        let mut r = Rng::new(self.opts.seed, &format!("account{i}"));
        format!(
            "{:012}",
            100_000_000_000 + r.below(899_999_999_999) / 1000 * 1000 + i as u64
        )
    }

    fn account_index(&self, scope: &Scope) -> usize {
        (0..self.opts.accounts)
            .find(|i| self.account_id(*i) == scope.accountid.as_str())
            .unwrap_or(0)
    }

    /// `describe-account` of the account at `ai`.
    fn account_doc(&self, ai: usize) -> Value {
        let id = self.account_id(ai);
        let name = ACCOUNT_NAMES[ai % ACCOUNT_NAMES.len()];
        json!({"Account": {
            "Id": id, "Arn": format!("arn:aws:organizations::{}:account/o-demo/{id}", self.account_id(0)),
            "Email": format!("aws+{name}@example.com"), "Name": format!("{name}-{ai}"), "Status": "ACTIVE",
            "JoinedMethod": if ai == 0 { "CREATED" } else { "INVITED" }, "JoinedTimestamp": iso(BASE_TIME - 86_400 * (30 + ai as i64))
        }})
    }

    fn groups(&self, scope: &Scope) -> Vec<String> {
        let ai = self.account_index(scope);
        // The fourth account has joined the organization (in the Sandbox
        // OU) but runs no deployment: what accounts_without_deployments
        // lists.
        if ai == SANDBOX_ACCOUNT {
            return Vec::new();
        }
        let ri = self
            .opts
            .regions
            .iter()
            .position(|r| r == scope.region.as_str())
            .unwrap_or(0);
        (0..self.opts.groups_per_region)
            .map(|g| {
                let k = g + ai + ri;
                let base = GROUP_NAMES[k % GROUP_NAMES.len()];
                if k / GROUP_NAMES.len() == 0 {
                    base.to_string()
                } else {
                    format!("{base}{}", k / GROUP_NAMES.len())
                }
            })
            .collect()
    }
}

impl Source for Demo {
    fn describe(&self) -> String {
        let o = &self.opts;
        format!(
            "demo (seed {}, {} accounts x {} regions x {} groups x {} instances)",
            o.seed,
            o.accounts,
            o.regions.len(),
            o.groups_per_region,
            o.instances_per_group
        )
    }

    fn scopes(&self) -> Result<(Vec<Scope>, Vec<Failure>), Error> {
        let mut v = Vec::new();
        for a in 0..self.opts.accounts {
            for r in &self.opts.regions {
                v.push(Scope {
                    accountid: PartitionValue::parse(&self.account_id(a), "account id", "demo")?,
                    region: PartitionValue::parse(r, "region", "demo")?,
                });
            }
        }
        Ok((v, Vec::new()))
    }

    fn account_inputs<'s>(
        &'s self,
        account: &PartitionValue,
    ) -> Result<Box<dyn AccountInputs + 's>, Error> {
        let index = (0..self.opts.accounts)
            .find(|i| self.account_id(*i) == account.as_str())
            .ok_or_else(|| Error::Internal(format!("{account} is not a demo account")))?;
        Ok(Box::new(DemoAccount {
            demo: self,
            accountid: account.clone(),
            index,
        }))
    }

    fn inputs<'s>(&'s self, scope: &Scope) -> Result<Box<dyn ScopeInputs + 's>, Error> {
        Ok(Box::new(DemoScope {
            demo: self,
            scope: scope.clone(),
            groups: self.groups(scope),
        }))
    }
}

/// The Organizations view of one demo account: prod accounts sit in
/// Workloads/Production, staging in Workloads/Staging, sandboxes in Sandbox.
struct DemoAccount<'d> {
    demo: &'d Demo,
    accountid: PartitionValue,
    index: usize,
}

impl DemoAccount<'_> {
    fn doc(&self, what: &str, v: Value) -> Option<Doc> {
        Some(Doc::value(format!("demo:{}/{what}", self.accountid), v))
    }
}

impl AccountInputs for DemoAccount<'_> {
    fn accountid(&self) -> &PartitionValue {
        &self.accountid
    }
    fn account(&self) -> Result<Option<Doc>, Error> {
        Ok(self.doc(
            "organizations-describe-account",
            self.demo.account_doc(self.index),
        ))
    }
    fn parents(&self, child_id: &str) -> Result<Option<Doc>, Error> {
        let parent = if child_id == self.accountid.as_str() {
            match ACCOUNT_NAMES[self.index % ACCOUNT_NAMES.len()] {
                n if n.starts_with("prod") => "ou-demo-production",
                "staging" => "ou-demo-staging",
                _ => "ou-demo-sandbox",
            }
        } else {
            match OUS.iter().find(|(id, _, _)| *id == child_id) {
                Some((_, _, parent)) => parent,
                None => return Ok(None),
            }
        };
        let kind = if parent.starts_with("r-") {
            "ROOT"
        } else {
            "ORGANIZATIONAL_UNIT"
        };
        Ok(self.doc(
            &format!("organizations-list-parents-{child_id}"),
            json!({"Parents": [{"Id": parent, "Type": kind}]}),
        ))
    }
    fn organizational_unit(&self, ou_id: &str) -> Result<Option<Doc>, Error> {
        let Some((id, name, _)) = OUS.iter().find(|(id, _, _)| *id == ou_id) else {
            return Ok(None);
        };
        let arn = format!(
            "arn:aws:organizations::{}:ou/o-demo/{id}",
            self.demo.account_id(0)
        );
        Ok(self.doc(
            &format!("organizations-describe-organizational-unit-{ou_id}"),
            json!({"OrganizationalUnit": {"Id": id, "Arn": arn, "Name": name}}),
        ))
    }
    fn tags(&self) -> Result<Option<Doc>, Error> {
        let name = ACCOUNT_NAMES[self.index % ACCOUNT_NAMES.len()];
        Ok(self.doc(
            "organizations-list-tags-for-resource",
            json!({"Tags": [
                {"Key": "CostCenter", "Value": format!("cc-{:03}", self.index)},
                {"Key": "Environment", "Value": name.split('-').next().unwrap_or(name)},
            ]}),
        ))
    }
}

pub struct DemoScope<'d> {
    demo: &'d Demo,
    scope: Scope,
    groups: Vec<String>,
}

impl DemoScope<'_> {
    fn rng(&self, salt: &str) -> Rng {
        Rng::new(
            self.demo.opts.seed,
            &format!("{}/{}/{salt}", self.scope.accountid, self.scope.region),
        )
    }

    fn origin(&self, what: &str) -> String {
        format!("demo:{}/{what}", self.scope)
    }

    /// Instance `n` of group `g` (global index `k` within the scope).
    fn instance(&self, g: &str, n: usize, rng: &mut Rng) -> Value {
        let region = self.scope.region.as_str();
        let acct = self.scope.accountid.as_str();
        let id = format!("i-{:017x}", rng.next());
        let az = format!("{region}{}", rng.pick(&["a", "b", "c"]));
        let drawn_running = rng.below(10) < 8;
        let mut running = drawn_running;
        const TYPES: [&str; 5] = [
            "t3.micro",
            "t3.large",
            "m6i.large",
            "c6g.xlarge",
            "r6i.2xlarge",
        ];
        let mut itype = *rng.pick(&TYPES);
        // Later revisions change some instances; the draws above stay the
        // same, so everything else about the instance does too.
        for r in 1..=self.demo.opts.revision {
            let h = fnv(&format!("{id}/{r}"));
            if h.is_multiple_of(11) {
                running = !running;
            }
            if h % 13 == 1 {
                itype = TYPES[(h / 13 % TYPES.len() as u64) as usize];
            }
        }
        let arm = itype.starts_with("c6g");
        let subfleet = match rng.below(10) {
            0..=5 => None,
            6..=7 => Some("spot"),
            _ => Some("batch"),
        };
        let launch = BASE_TIME + rng.below(300 * 86_400) as i64;
        let ip = format!(
            "10.{}.{}.{}",
            rng.below(256),
            rng.below(256),
            1 + rng.below(254)
        );
        let subnet = format!("subnet-{:08x}", rng.below(1 << 32));
        let vpc = format!("vpc-{:08x}", rng.below(16));
        let sg = json!({"GroupId": format!("sg-{:08x}", fnv(g)), "GroupName": format!("{g}-sg")});
        let nvol = 1 + rng.below(3) as usize;
        let mut bdm = Vec::new();
        for v in 0..nvol {
            bdm.push(json!({
                "DeviceName": if v == 0 { "/dev/xvda".to_string() } else { format!("/dev/sd{}", (b'f' + v as u8) as char) },
                "Ebs": {"AttachTime": iso(launch), "DeleteOnTermination": v == 0, "Status": "attached",
                        "VolumeId": format!("vol-{}{v}", &id[2..])}
            }));
        }
        let mut tags = vec![
            json!({"Key": "Name", "Value": format!("{g}-{n:04}")}),
            json!({"Key": self.demo.naming.group_tag, "Value": g}),
        ];
        if let Some(s) = subfleet {
            tags.push(json!({"Key": crate::documents::SUBFLEET_TAG, "Value": s}));
        }
        if n.is_multiple_of(5) {
            tags.push(json!({"Key": "Owner", "Value": *rng.pick(&["Zoë Ångström", "チーム・インフラ", "Ōsaka ops 🚀"])}));
        }
        let (code, state) = if running {
            (16, "running")
        } else {
            (80, "stopped")
        };
        let mut inst = json!({
            "AmiLaunchIndex": 0,
            "ImageId": format!("ami-{:08x}", rng.below(4)),
            "InstanceId": id,
            "InstanceType": itype,
            "KeyName": format!("{g}-key"),
            "LaunchTime": iso(launch),
            "Monitoring": {"State": "disabled"},
            "Placement": {"AvailabilityZone": az, "GroupName": "", "Tenancy": "default"},
            "PrivateDnsName": format!("ip-{}.{region}.compute.internal", ip.replace('.', "-")),
            "PrivateIpAddress": ip,
            "ProductCodes": [],
            "PublicDnsName": "",
            "State": {"Code": code, "Name": state},
            "StateTransitionReason": if running { String::new() } else { format!("User initiated ({})", iso(launch + 3600).replace('T', " ").replace("+00:00", " GMT")) },
            "SubnetId": subnet,
            "VpcId": vpc,
            "Architecture": if arm { "arm64" } else { "x86_64" },
            "BlockDeviceMappings": bdm,
            "ClientToken": format!("{}-{n}", g),
            "EbsOptimized": !itype.starts_with("t3"),
            "EnaSupport": true,
            "Hypervisor": "xen",
            "IamInstanceProfile": {"Arn": format!("arn:aws:iam::{acct}:instance-profile/{g}"), "Id": format!("AIPA{:016X}", fnv(&format!("{acct}{g}")))},
            "NetworkInterfaces": [{
                "Attachment": {"AttachTime": iso(launch), "AttachmentId": format!("eni-attach-{:08x}", rng.below(1 << 32)),
                               "DeleteOnTermination": true, "DeviceIndex": 0, "Status": "attached", "NetworkCardIndex": 0},
                "Description": "", "Groups": [sg.clone()], "Ipv6Addresses": [],
                "MacAddress": format!("02:00:00:{:02x}:{:02x}:{:02x}", rng.below(256), rng.below(256), rng.below(256)),
                "NetworkInterfaceId": format!("eni-{:08x}", rng.below(1 << 32)), "OwnerId": acct,
                "PrivateDnsName": "", "PrivateIpAddress": ip,
                "PrivateIpAddresses": [{"Primary": true, "PrivateIpAddress": ip}],
                "SourceDestCheck": true, "Status": "in-use", "SubnetId": subnet, "VpcId": vpc, "InterfaceType": "interface"
            }],
            "RootDeviceName": "/dev/xvda",
            "RootDeviceType": "ebs",
            "SecurityGroups": [sg],
            "SourceDestCheck": true,
            "Tags": tags,
            "VirtualizationType": "hvm",
            "CpuOptions": {"CoreCount": 1 + rng.below(4), "ThreadsPerCore": if arm { 1 } else { 2 }},
            "CapacityReservationSpecification": {"CapacityReservationPreference": "open"},
            "HibernationOptions": {"Configured": false},
            "MetadataOptions": {"State": "applied", "HttpTokens": if n.is_multiple_of(3) { "optional" } else { "required" },
                                "HttpPutResponseHopLimit": 2, "HttpEndpoint": "enabled", "HttpProtocolIpv6": "disabled",
                                "InstanceMetadataTags": "disabled"},
            "EnclaveOptions": {"Enabled": false},
            "BootMode": if arm { "uefi" } else { "legacy-bios" },
            "PlatformDetails": "Linux/UNIX",
            "UsageOperation": "RunInstances",
        });
        // Drawn as the seed has it, so that a later revision's change of
        // state moves no other draw; shown only while running.
        let pip = (drawn_running && n.is_multiple_of(4)).then(|| {
            format!(
                "54.{}.{}.{}",
                rng.below(256),
                rng.below(256),
                1 + rng.below(254)
            )
        });
        if let Some(pip) = pip.filter(|_| running) {
            inst["PublicIpAddress"] = json!(pip);
            inst["PublicDnsName"] = json!(format!(
                "ec2-{}.{region}.compute.amazonaws.com",
                pip.replace('.', "-")
            ));
            inst["NetworkInterfaces"][0]["Association"] = json!({"IpOwnerId": "amazon", "PublicDnsName": inst["PublicDnsName"], "PublicIp": pip});
        }
        if !running {
            inst["StateReason"] = json!({"Code": "Client.UserInitiatedShutdown", "Message": "Client.UserInitiatedShutdown: User initiated shutdown"});
        }
        if subfleet == Some("spot") {
            inst["InstanceLifecycle"] = json!("spot");
            inst["SpotInstanceRequestId"] = json!(format!("sir-{:08x}", rng.below(1 << 32)));
        }
        inst
    }

    /// Calls `f` with each instance, group by group, in a deterministic order.
    fn each_instance(&self, f: &mut dyn FnMut(Value) -> Result<(), Error>) -> Result<(), Error> {
        for g in &self.groups {
            let mut rng = self.rng(&format!("instances/{g}"));
            for n in 0..self.demo.opts.instances_per_group {
                f(self.instance(g, n, &mut rng))?;
            }
        }
        Ok(())
    }

    fn window_list(&self) -> Vec<(Value, Vec<Value>)> {
        let tag = |g: &str| vec![json!({"Key": self.demo.naming.group_tag, "Value": g})];
        let w = |id: usize,
                 name: &str,
                 sched: &str,
                 tz: Option<&str>,
                 dur: i64,
                 enabled: bool,
                 next: Option<&str>| {
            let mut v = json!({"WindowId": format!("mw-{:017x}", id), "Name": name, "Enabled": enabled,
                               "Duration": dur, "Cutoff": 0, "Schedule": sched});
            if let Some(tz) = tz {
                v["ScheduleTimezone"] = json!(tz);
            }
            if let Some(n) = next {
                v["NextExecutionTime"] = json!(n);
            }
            v
        };
        let mut out = vec![(
            w(
                1,
                "CS-GlobalDefaultMaintenanceWindow",
                "cron(0 2 ? * SUN *)",
                None,
                3,
                true,
                None,
            ),
            vec![],
        )];
        for (i, g) in self.groups.iter().enumerate() {
            match i % 3 {
                0 => {
                    out.push((
                        w(
                            10 + i * 4,
                            &format!("CS-{g}-Mainfleet"),
                            "cron(30 1 ? * MON-FRI *)",
                            Some("Europe/Paris"),
                            2,
                            true,
                            Some("2026-11-23T00:30:00+00:00"),
                        ),
                        tag(g),
                    ));
                    out.push((
                        w(
                            11 + i * 4,
                            &format!("CS-{g}-Subfleet.__all__"),
                            "rate(12 hours)",
                            None,
                            1,
                            true,
                            None,
                        ),
                        tag(g),
                    ));
                    out.push((
                        w(
                            12 + i * 4,
                            &format!("CS-{g}-Subfleet.batch"),
                            "cron(0 4 ? * TUE#3 *)",
                            Some("UTC"),
                            4,
                            false,
                            None,
                        ),
                        tag(g),
                    ));
                }
                1 => out.push((
                    w(
                        10 + i * 4,
                        &format!("CS-{g}"),
                        "cron(0 22 ? * 6L *)",
                        Some("America/New_York"),
                        6,
                        true,
                        None,
                    ),
                    tag(g),
                )),
                _ => {}
            }
        }
        out
    }
}

impl DemoScope<'_> {
    /// Pages are built as JSON text, one instance at a time, like the
    /// bytes an API answer or a snapshot file holds: a page of 1,000
    /// instances as a `serde_json::Value` tree would take ~40 MB per thread.
    fn instance_pages(&self, f: &mut dyn FnMut(Doc) -> Result<(), Error>) -> Result<(), Error> {
        let owner = self.scope.accountid.as_str();
        let mut rng = self.rng("reservations");
        let mut page = PageText::new("Reservations");
        // The reservation being written: its id closes it.
        let mut open: Option<String> = None;
        let mut count = 0;
        let mut pages = 0;
        let close = |page: &mut PageText, open: &mut Option<String>| {
            if let Some(id) = open.take() {
                page.raw("],\"OwnerId\":");
                page.value(owner);
                page.raw(",\"ReservationId\":");
                page.value(&id);
                page.raw("}");
            }
        };
        self.each_instance(&mut |inst| {
            if !(open.is_some() && rng.below(3) != 0) {
                close(&mut page, &mut open);
                page.element_raw("{\"Groups\":[],\"Instances\":[");
                open = Some(format!("r-{:017x}", rng.next()));
            } else {
                page.raw(",");
            }
            page.value(&inst);
            count += 1;
            if count % PAGE == 0 {
                close(&mut page, &mut open);
                pages += 1;
                f(page.take(self.origin(&format!("ec2-describe-instances page {pages}"))))?;
            }
            Ok(())
        })?;
        if open.is_some() || pages == 0 {
            close(&mut page, &mut open);
            pages += 1;
            f(page.take(self.origin(&format!("ec2-describe-instances page {pages}"))))?;
        }
        Ok(())
    }

    /// The pages of a call the demo answers instance by instance
    /// ([`CallDemo::PerInstance`]), from one random stream per account/region.
    fn per_instance_pages(
        &self,
        call: &'static ApiCall,
        rows: fn(&Value, &Scope, &mut Rng) -> Vec<Value>,
        f: &mut dyn FnMut(Doc) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut page = PageText::new(call.page_key);
        let mut rng = self.rng(&call.page_key.to_ascii_lowercase());
        let mut seen = std::collections::HashSet::new();
        let mut pages = 0;
        self.each_instance(&mut |inst| {
            for v in rows(&inst, &self.scope, &mut rng) {
                if seen.insert(v[call.id].to_string()) {
                    page.element(&v);
                }
            }
            if page.elements >= PAGE {
                pages += 1;
                f(page.take(self.origin(&format!("{} page {pages}", call.stem))))?;
            }
            Ok(())
        })?;
        f(page.take(self.origin(call.stem)))
    }
}

/// The demo's answers from its model, by call.
impl DemoScope<'_> {
    /// `cloudformation describe-stacks`: a stack per group.
    fn stacks(&self) -> Result<Vec<Doc>, Error> {
        let stacks: Vec<Value> = self
            .groups
            .iter()
            .map(|g| {
                let acct = self.scope.accountid.as_str();
                let region = self.scope.region.as_str();
                let meta = json!({"team": format!("team-{g}"), "costcenter": 4200, "criticality": "high"}).to_string();
                let stack = Naming::expand(&self.demo.naming.stack, g);
                let cfg = Naming::expand(&self.demo.naming.configuration_table, g);
                let sch = Naming::expand(&self.demo.naming.scheduler_table, g);
                let p = |k: &str, v: &str| json!({"ParameterKey": k, "ParameterValue": v});
                let o = |k: &str, v: String| json!({"OutputKey": k, "OutputValue": v});
                json!({
                    "StackName": stack, "StackStatus": "UPDATE_COMPLETE", "CreationTime": iso(BASE_TIME - 86_400),
                    "StackId": format!("arn:aws:cloudformation:{region}:{acct}:stack/{stack}/demo"),
                    "Parameters": [p("GroupName", g), p("LogRetentionDuration", "365"), p("LoggingS3Path", ""),
                                   p("MetadataAndBackupS3Path", "s3://org-cmdb/prod"), p("UserSuppliedJSONMetadata", &meta),
                                   p("XRayDiagnosis", "false"), p("LambdaMemorySize", "512"), p("TimeZone", "Europe/Paris"),
                                   p("LogLevels", "*=*"), p("ApiGWConfiguration", ""), p("PermissionsBoundary", ""),
                                   p("DynamoDBConfiguration", ""), p("ConfigurationURLs", ""), p("CustomizationZipParameters", "")],
                    "Outputs": [o("CloneSquadVersion", format!("v0.{}.0", 40 + g.len())),
                                o("InstallTime", iso(BASE_TIME - 86_400)),
                                o("InteractAPIGWUrl", format!("https://{g}api.execute-api.{region}.amazonaws.com/v1/")),
                                o("InteractApi", format!("{g}api")),
                                o("InteractQueue", format!("https://sqs.{region}.amazonaws.com/{acct}/CloneSquad-Interact-{g}")),
                                o("ConfigurationTable", cfg), o("SchedulerTable", sch),
                                o("StateTable", format!("CloneSquad-{g}-State")),
                                o("EventTable", format!("CloneSquad-{g}-EventLog")),
                                o("LongTermEventTable", format!("CloneSquad-{g}-EventLog-LongTerm")),
                                o("AlarmStateEC2Table", format!("CloneSquad-{g}-AlarmState-EC2")),
                                o("MainLambdaIamRoleArn", format!("arn:aws:iam::{acct}:role/CloneSquad-{g}-Main")),
                                o("InteractLambdaIamRoleArn", format!("arn:aws:iam::{acct}:role/CloneSquad-{g}-Interact")),
                                o("DiscoveryLambdaIamRoleArn", format!("arn:aws:iam::{acct}:role/CloneSquad-{g}-Discovery")),
                                o("InternalERRORMainAlarmArn", format!("arn:aws:cloudwatch:{region}:{acct}:alarm:CloneSquad-{g}-InternalError-Main")),
                                o("InternalERRORInteractAlarmArn", format!("arn:aws:cloudwatch:{region}:{acct}:alarm:CloneSquad-{g}-InternalError-Interact")),
                                o("InternalWARNINGMainAlarmArn", format!("arn:aws:cloudwatch:{region}:{acct}:alarm:CloneSquad-{g}-InternalWarning-Main")),
                                o("InternalWARNINGInteractAlarmArn", format!("arn:aws:cloudwatch:{region}:{acct}:alarm:CloneSquad-{g}-InternalWarning-Interact")),
                                o("LackOfCPUCreditAlarmArn", format!("arn:aws:cloudwatch:{region}:{acct}:alarm:CloneSquad-{g}-LackOfCPUCredit")),
                                o("ApiGwVpcEndpointDNSEntry", String::new())]
                })
            })
            .collect();
        Ok(vec![Doc::value(
            self.origin("cloudformation-describe-stacks"),
            json!({"Stacks": stacks}),
        )])
    }

    /// `dynamodb list-tables`: each group's two tables.
    fn dynamodb_tables(&self) -> Result<Vec<String>, Error> {
        let n = &self.demo.naming;
        Ok(self
            .groups
            .iter()
            .flat_map(|g| {
                [
                    Naming::expand(&n.configuration_table, g),
                    Naming::expand(&n.scheduler_table, g),
                ]
            })
            .collect())
    }

    fn scan(&self, table: &str) -> Result<Option<Doc>, Error> {
        let n = &self.demo.naming;
        let s = |v: &str| json!({"S": v});
        for (gi, g) in self.groups.iter().enumerate() {
            if table == Naming::expand(&n.configuration_table, g) {
                // The last group of every scope has an empty configuration.
                let items: Vec<Value> = if gi + 1 == self.groups.len() && self.groups.len() > 1 {
                    vec![]
                } else {
                    let min = (gi % 3 + 1 + self.demo.opts.revision as usize).to_string();
                    vec![
                        json!({"Key": s("ec2.schedule.min_instance_count"), "Value": s(&min)}),
                        json!({"Key": s("ec2.schedule.desired_instance_count"), "Value": s("-1")}),
                        json!({"Key": s("loglevel"), "Value": s(if gi == 0 { "DEBUG" } else { "INFO" })}),
                        json!({"Key": s("app.run_period"), "Value": s("PT30S")}),
                        json!({"Key": s("subfleet.spot.ec2.schedule.desired_instance_count"), "Value": s("50%")}),
                    ]
                };
                return Ok(Some(Doc::value(
                    self.origin(&format!("dynamodb-scan-{table}")),
                    json!({"Items": items, "Count": items.len()}),
                )));
            }
            if table == Naming::expand(&n.scheduler_table, g) {
                let items = vec![
                    json!({"Key": s("scale-down-night"), "Value": s("cron(0 20 * * ? *),ec2.schedule.desired_instance_count=0")}),
                    json!({"Key": s("scale-up-morning"), "Value": s("cron(0 7 ? * MON-FRI *),ec2.schedule.desired_instance_count=-1")}),
                    json!({"Key": s("one-off-test"), "Value": s("at(2026-12-01T10:00:00),loglevel=DEBUG"), "ExpirationTime": {"N": (BASE_TIME + 335 * 86_400).to_string()}}),
                ];
                return Ok(Some(Doc::value(
                    self.origin(&format!("dynamodb-scan-{table}")),
                    json!({"Items": items, "Count": 3}),
                )));
            }
        }
        Ok(None)
    }

    fn maintenance_windows(&self) -> Result<Vec<Doc>, Error> {
        let ids: Vec<Value> = self.window_list().into_iter().map(|(w, _)| w).collect();
        Ok(vec![Doc::value(
            self.origin("ssm-describe-maintenance-windows"),
            json!({"WindowIdentities": ids}),
        )])
    }

    /// PITR: on for every configuration table but each scope's second
    /// group; on for the scheduler table of the first group only.
    fn continuous_backups(&self, table: &str) -> Result<Option<Doc>, Error> {
        let n = &self.demo.naming;
        for (gi, g) in self.groups.iter().enumerate() {
            let on = if table == Naming::expand(&n.configuration_table, g) {
                gi != 1
            } else if table == Naming::expand(&n.scheduler_table, g) {
                gi == 0
            } else {
                continue;
            };
            let status = if on { "ENABLED" } else { "DISABLED" };
            return Ok(Some(Doc::value(
                self.origin(&format!("dynamodb-describe-continuous-backups-{table}")),
                json!({"ContinuousBackupsDescription": {
                    "ContinuousBackupsStatus": "ENABLED",
                    "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": status}
                }}),
            )));
        }
        Ok(None)
    }

    fn window_tags(&self, window_id: &str) -> Result<Option<Doc>, Error> {
        Ok(self
            .window_list()
            .into_iter()
            .find(|(w, _)| w["WindowId"] == window_id)
            .map(|(_, tags)| {
                Doc::value(
                    self.origin(&format!("ssm-list-tags-for-resource-{window_id}")),
                    json!({"TagList": tags}),
                )
            }))
    }
}

impl ScopeInputs for DemoScope<'_> {
    fn scope(&self) -> &Scope {
        &self.scope
    }

    fn account(&self) -> Result<Option<Doc>, Error> {
        let ai = self.demo.account_index(&self.scope);
        Ok(Some(Doc::value(
            self.origin("organizations-describe-account"),
            self.demo.account_doc(ai),
        )))
    }

    fn pages(
        &self,
        call: &'static ApiCall,
        f: &mut dyn FnMut(Doc) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let docs = match call.demo {
            CallDemo::PerInstance(rows) => return self.per_instance_pages(call, rows, f),
            CallDemo::Model if call == &DESCRIBE_INSTANCES => return self.instance_pages(f),
            CallDemo::Model if call == &DESCRIBE_STACKS => self.stacks()?,
            CallDemo::Model if call == &DESCRIBE_MAINTENANCE_WINDOWS => {
                self.maintenance_windows()?
            }
            CallDemo::Model if call == &LIST_TABLES => vec![Doc::value(
                self.origin(LIST_TABLES.stem),
                json!({ "TableNames": self.dynamodb_tables()? }),
            )],
            // A call of the model that it does not answer has no pages (a
            // test holds every call answered).
            CallDemo::Model => Vec::new(),
        };
        docs.into_iter().try_for_each(f)
    }

    fn answer(&self, call: &'static ApiCall, id: &str) -> Result<Option<Doc>, Error> {
        if call == &SCAN {
            self.scan(id)
        } else if call == &DESCRIBE_CONTINUOUS_BACKUPS {
            self.continuous_backups(id)
        } else if call == &LIST_WINDOW_TAGS {
            self.window_tags(id)
        } else {
            Ok(None)
        }
    }
}

#[cfg(test)]
impl Demo {
    /// One account, one region (eu-west-1), two groups of `instances`
    /// instances each, named as by default.
    pub(crate) fn one_region(instances: usize, seed: u64) -> Demo {
        let opts = DemoOptions {
            accounts: 1,
            regions: vec!["eu-west-1".into()],
            groups_per_region: 2,
            instances_per_group: instances,
            seed,
            revision: 0,
        };
        Demo::new(opts, Naming::default()).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn fetch(kind: &str, per_group: usize) -> (String, Vec<Value>) {
        let demo = Demo::one_region(per_group, 7);
        let (scopes, _) = demo.scopes().unwrap();
        let inputs = demo.inputs(&scopes[0]).unwrap();
        let mut out = Vec::new();
        let mut collect = |d: Doc| {
            let Body::Bytes(b) = &d.body else {
                panic!("{}: pages are JSON text", d.origin)
            };
            let v: Value =
                serde_json::from_slice(b).unwrap_or_else(|e| panic!("{}: {e}", d.origin));
            out.push(v);
            Ok(())
        };
        match kind {
            "instances" => inputs
                .pages(&crate::calls::ec2::DESCRIBE_INSTANCES, &mut collect)
                .unwrap(),
            _ => inputs
                .pages(&crate::calls::ec2::DESCRIBE_VOLUMES, &mut collect)
                .unwrap(),
        }
        (scopes[0].accountid.to_string(), out)
    }

    #[test]
    fn the_model_answers_every_call_of_a_region() {
        let demo = Demo::one_region(3, 7);
        let (scopes, _) = demo.scopes().unwrap();
        let inputs = demo.inputs(&scopes[0]).unwrap();
        let mut pages: Vec<(&'static ApiCall, Value)> = Vec::new();
        for call in crate::tables::regional_calls() {
            let of = |c: &'static ApiCall| -> Vec<&Value> {
                pages
                    .iter()
                    .filter(|(p, _)| *p == c)
                    .map(|(_, v)| v)
                    .collect()
            };
            if let crate::calls::Input::Each(_) = call.input {
                let ids = crate::calls::ids_for(call, &of, &Naming::default());
                assert!(!ids.is_empty(), "{call:?}: no ids");
                for id in ids {
                    assert!(inputs.answer(call, &id).unwrap().is_some(), "{call:?} {id}");
                }
                continue;
            }
            let got = inputs.values(call).unwrap();
            let rows: usize = got
                .iter()
                .map(|(_, v)| v[call.page_key].as_array().map_or(0, Vec::len))
                .sum();
            assert!(rows > 0, "{call:?}: no rows");
            pages.extend(got.into_iter().map(|(_, v)| (call, v)));
        }
    }

    #[test]
    fn pages_are_json_text_shaped_as_the_api_answers() {
        let (account, pages) = fetch("instances", 1300);
        assert_eq!(pages.len(), 3, "2,600 instances in pages of {PAGE}");
        let mut ids = BTreeSet::new();
        let mut volumes = 0;
        for (i, p) in pages.iter().enumerate() {
            let rs = p["Reservations"].as_array().unwrap();
            let n: usize = rs
                .iter()
                .map(|r| r["Instances"].as_array().unwrap().len())
                .sum();
            assert_eq!(n, if i < 2 { PAGE } else { 600 }, "page {i}");
            for r in rs {
                assert_eq!(r["OwnerId"], account.as_str());
                assert!(r["ReservationId"].as_str().unwrap().starts_with("r-"));
                for inst in r["Instances"].as_array().unwrap() {
                    ids.insert(inst["InstanceId"].as_str().unwrap().to_string());
                    volumes += inst["BlockDeviceMappings"].as_array().unwrap().len();
                }
            }
        }
        assert_eq!(ids.len(), 2600, "every instance once");
        let (_, vpages) = fetch("volumes", 1300);
        let vols: Vec<&Value> = vpages
            .iter()
            .flat_map(|p| p["Volumes"].as_array().unwrap())
            .collect();
        assert_eq!(vols.len(), volumes, "a volume per block device");
        assert!(vols
            .iter()
            .all(|v| ids.contains(v["Attachments"][0]["InstanceId"].as_str().unwrap())));
        let (_, empty) = fetch("instances", 0);
        assert_eq!(empty, vec![serde_json::json!({"Reservations": []})]);
    }
}
