//! The page: one self-contained HTML file drawn from a [`Picture`].
//!
//! Owns the markup (maud, which escapes every value it prints), the
//! charts (SVG drawn here, at generation time), the style (light and dark
//! from the reader's setting) and the one inline script that sorts tables.
//! The page loads nothing: its Content-Security-Policy allows no source
//! but that script, by hash, so even a value that escaped escaping could
//! not run.

use maud::{html, Markup, PreEscaped, DOCTYPE};
use sha2::{Digest, Sha256};

use super::{Counts, Picture, Window, LIST_ROWS, TIMELINE_DAYS};

/// Bars a chart draws; the rest are summed into one last bar.
const MAX_BARS: usize = 40;
/// Fleets the timeline draws.
const TIMELINE_ROWS: usize = 40;

const STYLE: &str = r#"
:root { color-scheme: light dark; --bg: #ffffff; --fg: #1b1f24; --muted: #57606a; --bar: #0b5cad;
  --warn: #9a3412; --warnbg: #fff1e6; --line: #d0d7de; --stripe: #f6f8fa; --ok: #116329; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #0d1117; --fg: #e6edf3; --muted: #9da7b3; --bar: #58a6ff; --warn: #ffb38a;
    --warnbg: #3b1d0f; --line: #30363d; --stripe: #161b22; --ok: #56d364; }
}
body { background: var(--bg); color: var(--fg); font: 15px/1.45 system-ui, sans-serif; margin: 0 auto;
  max-width: 1100px; padding: 1rem 1.5rem 3rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { border-bottom: 1px solid var(--line); padding-bottom: .2rem;
  margin-top: 2.2rem; } h3 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
.muted, figcaption, .more { color: var(--muted); } .more { font-size: .9rem; }
.tiles { display: flex; flex-wrap: wrap; gap: .8rem; margin: 1rem 0; padding: 0; list-style: none; }
.tiles li { border: 1px solid var(--line); border-radius: 6px; padding: .5rem .9rem; min-width: 8rem; }
.tiles b { display: block; font-size: 1.5rem; }
.warn b, td.warn, span.warn { color: var(--warn); } tr.warn td { background: var(--warnbg); }
table { border-collapse: collapse; margin: .4rem 0; font-size: .92rem; }
th, td { border-bottom: 1px solid var(--line); padding: .25rem .6rem; text-align: left; vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) td { background: var(--stripe); }
th button { all: inherit; cursor: pointer; font-weight: 600; padding: 0; }
th button:focus-visible { outline: 2px solid var(--bar); }
th[aria-sort=ascending] button::after { content: " ▲"; } th[aria-sort=descending] button::after { content: " ▼"; }
svg text { fill: var(--fg); font-size: 12px; } svg .bar { fill: var(--bar); } svg .axis { stroke: var(--line); }
svg .now { stroke: var(--warn); stroke-width: 2; }
svg.chart { max-width: 100%; height: auto; } figure { margin: .5rem 0 1rem; } .grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(480px, 1fr));
  gap: 0 1.5rem; }
"#;

/// Sorts a table by the column whose header button is pressed; numbers
/// (`data-v` or text) as numbers, the rest as text.
const SCRIPT: &str = r#"
document.querySelectorAll("table.sortable th button").forEach(function (b) {
  b.addEventListener("click", function () {
    var th = b.parentNode, table = th.closest("table"), body = table.tBodies[0];
    var col = Array.prototype.indexOf.call(th.parentNode.children, th);
    var asc = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    var key = function (r) { var c = r.children[col]; return c ? (c.getAttribute("data-v") || c.textContent) : ""; };
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (x, y) {
      var a = key(x), b2 = key(y), na = parseFloat(a), nb = parseFloat(b2);
      var r = (!isNaN(na) && !isNaN(nb)) ? na - nb : a.localeCompare(b2);
      return asc ? r : -r;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"#;

fn time(ms: Option<i64>) -> String {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map_or_else(String::new, |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

/// A horizontal bar chart of `counts` (largest first).
fn bars(id: &str, title: &str, counts: &Counts, what: &str) -> Markup {
    chart(id, title, counts, what, (280.0, 400.0))
}

/// [`bars`] narrow enough for two side by side.
fn half_bars(id: &str, title: &str, counts: &Counts, what: &str) -> Markup {
    chart(id, title, counts, what, (170.0, 230.0))
}

fn chart(
    id: &str,
    title: &str,
    counts: &Counts,
    what: &str,
    (label_w, bar_w): (f64, f64),
) -> Markup {
    let mut shown: Vec<(String, u64)> = counts.iter().take(MAX_BARS).cloned().collect();
    if counts.len() > MAX_BARS {
        let rest: u64 = counts[MAX_BARS..].iter().map(|(_, n)| n).sum();
        shown.pop();
        let others = counts.len() - MAX_BARS + 1;
        let rest = rest + counts[MAX_BARS - 1].1;
        shown.push((format!("{others} others"), rest));
    }
    let max = shown.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let row_h = 22.0;
    let max_chars = (label_w / 7.0) as usize;
    let height = row_h * shown.len() as f64 + 4.0;
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    html! {
        figure {
            svg id=(id) class="chart" role="img" width=(label_w + bar_w + 80.0) height=(height)
                viewBox=(format!("0 0 {} {height}", label_w + bar_w + 80.0))
                aria-label=(format!("{title}: {} {what} in {} bars", total, shown.len())) {
                title { (title) }
                @for (i, (label, n)) in shown.iter().enumerate() {
                    @let y = i as f64 * row_h + 2.0;
                    @let w = (*n as f64 / max as f64 * bar_w).max(1.0);
                    @let short: String = if label.chars().count() > max_chars {
                        label.chars().take(max_chars - 1).chain(std::iter::once('…')).collect()
                    } else { label.clone() };
                    text x=(label_w - 6.0) y=(y + 15.0) text-anchor="end" { (short) }
                    rect class="bar" x=(label_w) y=(y + 3.0) width=(format!("{w:.1}")) height=(row_h - 6.0)
                        data-label=(label) data-value=(n) {
                        title { (label) ": " (n) }
                    }
                    text x=(label_w + w + 6.0) y=(y + 15.0) { (n) }
                }
            }
            figcaption { (title) " (" (total) " " (what) ")" }
        }
    }
}

/// A sortable table's header row.
fn head(cols: &[(&str, bool)]) -> Markup {
    html! {
        thead { tr { @for (c, num) in cols {
            th scope="col" class=[num.then_some("n")] { button type="button" { (c) } }
        } } }
    }
}

/// "and N more" under a list cut at `LIST_ROWS`.
fn more(total: usize) -> Markup {
    html! {
        @if total > LIST_ROWS {
            p class="more" { "Showing " (LIST_ROWS) " of " (total) "; the query in the heading lists them all." }
        }
    }
}

/// The next windows on a 7-day axis, one row per fleet.
fn timeline(p: &Picture) -> Markup {
    let rows: Vec<&Window> = p.upcoming.iter().take(TIMELINE_ROWS).collect();
    let (label_w, axis_w, row_h) = (300.0, 560.0, 20.0);
    let span = (TIMELINE_DAYS * 86_400_000) as f64;
    // Times come from the files: any i64 is placed without overflow.
    let x =
        |ms: i64| label_w + (ms.saturating_sub(p.now_ms) as f64 / span * axis_w).clamp(0.0, axis_w);
    let height = row_h * rows.len() as f64 + 30.0;
    html! {
        figure {
            svg id="timeline" class="chart" role="img" width=(label_w + axis_w + 10.0) height=(height)
                aria-label=(format!("Maintenance windows of the next {TIMELINE_DAYS} days: {} fleets", p.upcoming.len())) {
                title { "Maintenance windows of the next " (TIMELINE_DAYS) " days" }
                @for d in 0..=TIMELINE_DAYS {
                    @let xd = label_w + d as f64 / TIMELINE_DAYS as f64 * axis_w;
                    line class="axis" x1=(xd) x2=(xd) y1="0" y2=(height - 16.0) {}
                    text x=(xd) y=(height - 2.0) text-anchor="middle" {
                        (time(Some(p.now_ms.saturating_add(d * 86_400_000))).get(5..10).unwrap_or(""))
                    }
                }
                line class="now" x1=(label_w) x2=(label_w) y1="0" y2=(height - 16.0) {}
                @for (i, w) in rows.iter().enumerate() {
                    @let y = i as f64 * row_h;
                    @let label = format!("{} {}/{} {}", w.accountid, w.region, w.groupname, w.fleet);
                    text x=(label_w - 6.0) y=(y + 14.0) text-anchor="end" { (label) }
                    rect class="bar window" x=(format!("{:.1}", x(w.start_ms))) y=(y + 3.0)
                        width=(format!("{:.1}", (x(w.end_ms) - x(w.start_ms)).max(2.0))) height=(row_h - 6.0) {
                        title { (label) ": " (w.name) ", " (time(Some(w.start_ms))) " to " (time(Some(w.end_ms))) }
                    }
                }
            }
            figcaption {
                (p.upcoming.len()) " fleet windows begin or run in the next " (TIMELINE_DAYS) " days"
                @if p.upcoming.len() > TIMELINE_ROWS { "; the first " (TIMELINE_ROWS) " are drawn" }
                "."
            }
        }
    }
}

fn sha256_base64(s: &str) -> String {
    aws_smithy_types::base64::encode(Sha256::digest(s.as_bytes()))
}

/// The page of `p`.
pub fn render(p: &Picture) -> String {
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{}'; img-src data:; base-uri 'none'; form-action 'none'",
        sha256_base64(SCRIPT)
    );
    let overdue: Vec<_> = p.groups.iter().filter(|g| g.overdue(p.now_ms)).collect();
    let no_pitr: Vec<_> = p
        .groups
        .iter()
        .filter(|g| !g.without_pitr().is_empty())
        .collect();
    // Overdue and unprotected groups first.
    let mut versions = std::collections::HashMap::<String, u64>::new();
    for g in &p.groups {
        let v = if g.version.is_empty() {
            "(unknown)"
        } else {
            &g.version
        };
        *versions.entry(v.to_string()).or_default() += 1;
    }
    let by_version = super::sorted(versions);
    let mut backups: Vec<_> = p.groups.iter().collect();
    backups.sort_by_key(|g| (!g.overdue(p.now_ms), g.without_pitr().is_empty()));
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta http-equiv="Content-Security-Policy" content=(csp);
                meta name="generator" content=(concat!("fleetcmdb ", env!("CARGO_PKG_VERSION")));
                title { "fleetcmdb: the fleet at " (time(Some(p.now_ms))) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    h1 { "The fleet" }
                    p class="muted" {
                        "From " code { (p.destination) } ", copy " code { (p.version) }
                        ", as of " (time(Some(p.now_ms))) "."
                    }
                    ul class="tiles" {
                        li { b id="n-accounts" { (p.accounts) } "accounts" }
                        li { b id="n-groups" { (p.groups.len()) } "groups" }
                        li { b id="n-instances" { (p.instances) } "instances" }
                        li { b id="n-running" { (p.running) } "running" }
                        li class=[(!p.without_window.is_empty()).then_some("warn")] {
                            b id="n-without-window" { (p.without_window.len()) } "groups without a maintenance window" }
                        li class=[(!overdue.is_empty()).then_some("warn")] {
                            b id="n-overdue" { (overdue.len()) } "overdue backups" }
                        li class=[(!p.open.is_empty()).then_some("warn")] {
                            b id="n-open" { (p.open.len()) } "fleets open to the internet" }
                    }
                }
                main {
                    section aria-labelledby="fleet" {
                        h2 id="fleet" { "Fleet" }
                        p class="muted" { "Query: " code { "instance_counts" } " (Athena view), from " code { "cmdb_instances" } " and " code { "cmdb_accounts" } "." }
                        (bars("by-account", "Instances by account", &p.by_account, "instances"))
                        div class="grid" {
                            (half_bars("by-ou", "Instances by organizational unit", &p.by_ou, "instances"))
                            (half_bars("by-region", "Instances by region", &p.by_region, "instances"))
                            (half_bars("by-type", "Instances by type", &p.by_type, "instances"))
                            (half_bars("by-state", "Instances by state", &p.by_state, "instances"))
                            (half_bars("by-version", "Groups by CloneSquad version", &by_version, "groups"))
                        }
                    }
                    section aria-labelledby="maintenance" {
                        h2 id="maintenance" { "Maintenance" }
                        h3 { "Groups without any maintenance window (" (p.without_window.len()) ")" }
                        p class="muted" { "Query: " code { "groups_without_maintenance_window" } "." }
                        @if p.without_window.is_empty() { p { "Every group has a maintenance window." } } @else {
                            table id="without-window" class="sortable" {
                                (head(&[("account", false), ("region", false), ("group", false)]))
                                tbody { @for (a, r, g) in p.without_window.iter().take(LIST_ROWS) {
                                    tr { td { (a) } td { (r) } td { (g) } }
                                } }
                            }
                            (more(p.without_window.len()))
                        }
                        h3 { "In maintenance now (" (p.in_maintenance.len()) ")" }
                        p class="muted" { "Query: " code { "fleets_in_maintenance_now" } "." }
                        @if p.in_maintenance.is_empty() { p { "No fleet is in a maintenance window." } } @else {
                            table id="in-maintenance" class="sortable" {
                                (head(&[("account", false), ("region", false), ("group", false), ("fleet", false), ("window", false), ("ends", false)]))
                                tbody { @for w in p.in_maintenance.iter().take(LIST_ROWS) {
                                    tr { td { (w.accountid) } td { (w.region) } td { (w.groupname) } td { (w.fleet) } td { (w.name) } td { (time(Some(w.end_ms))) } }
                                } }
                            }
                            (more(p.in_maintenance.len()))
                        }
                        h3 { "The next " (TIMELINE_DAYS) " days" }
                        p class="muted" { "Query: " code { "cmdb_maintenance_windows" } ", " code { "nextmaintenancewindowdetails" } "." }
                        (timeline(p))
                    }
                    section aria-labelledby="backups" {
                        h2 id="backups" { "Backups" }
                        p class="muted" { "Query: " code { "cmdb_discovery" } " (" code { "backupschedule" } ", " code { "lastbackuptime" } ", " code { "nextbackuptime" } ", " code { "configurationtablepitr" } ", " code { "schedulertablepitr" } ")." }
                        p {
                            span class=[(!overdue.is_empty()).then_some("warn")] { (overdue.len()) " overdue" } ", "
                            span class=[(!no_pitr.is_empty()).then_some("warn")] { (no_pitr.len()) " with a table without point-in-time recovery" }
                            ", of " (p.groups.len()) " groups."
                        }
                        table id="backups-table" class="sortable" {
                            (head(&[("account", false), ("region", false), ("group", false), ("schedule", false), ("zone", false), ("last backup", false), ("next backup", false), ("without point-in-time recovery", false)]))
                            tbody { @for g in backups.iter().take(LIST_ROWS) {
                                @let late = g.overdue(p.now_ms);
                                @let unprotected = g.without_pitr();
                                tr class=[(late || !unprotected.is_empty()).then_some("warn")] {
                                    td data-v=(g.accountid) { (g.accountid) @if !g.accountname.is_empty() { " " span class="muted" { (g.accountname) } } }
                                    td { (g.region) } td { (g.groupname) }
                                    td { (g.backup_schedule) } td { (g.backup_zone) }
                                    td data-v=(g.last_backup_ms.unwrap_or(0)) { (time(g.last_backup_ms)) }
                                    td data-v=(g.next_backup_ms.unwrap_or(0)) class=[late.then_some("warn")] {
                                        (time(g.next_backup_ms)) @if late { " (overdue)" } }
                                    td { (unprotected.join(", ")) }
                                }
                            } }
                        }
                        (more(p.groups.len()))
                    }
                    section aria-labelledby="exposure" {
                        h2 id="exposure" { "Open to the internet" }
                        p class="muted" { "Query: " code { "fleets_open_to_the_internet" } "." }
                        @if p.open.is_empty() { p { "No fleet uses a security group open to 0.0.0.0/0 or ::/0." } } @else {
                            table id="open" class="sortable" {
                                (head(&[("account", false), ("region", false), ("group", false), ("fleet", false), ("security group", false), ("open ports", false), ("instances", true)]))
                                tbody { @for o in p.open.iter().take(LIST_ROWS) {
                                    tr { td { (o.accountid) } td { (o.region) } td { (o.groupname) } td { (o.fleet) }
                                        td { (o.security_group) " " span class="muted" { (o.security_group_name) } }
                                        td { (o.open_ports) } td class="n" { (o.instances) } }
                                } }
                            }
                            (more(p.open.len()))
                        }
                    }
                    section aria-labelledby="changes" {
                        h2 id="changes" { "Changes" }
                        @match &p.changes {
                            None => p { "No two history snapshots yet: exports with " code { "--history" } " take them." },
                            Some(c) => {
                                p class="muted" { "Query: " code { "fleetcmdb diff" } " or the " code { "…_changes" } " views; from snapshot " code { (c.from) } " to " code { (c.to) } "." }
                                table id="change-counts" class="sortable" {
                                    (head(&[("table", false), ("added", true), ("removed", true), ("changed", true)]))
                                    tbody { @for (t, a, r, ch) in &c.counts {
                                        tr { td { (t) } td class="n" { (a) } td class="n" { (r) } td class="n" { (ch) } }
                                    } }
                                }
                                @if !c.listed.is_empty() {
                                    h3 { "The latest changes" }
                                    table id="change-list" class="sortable" {
                                        (head(&[("table", false), ("change", false), ("row", false), ("columns", false)]))
                                        tbody { @for (t, k, key, cols) in &c.listed {
                                            tr { td { (t) } td { (k) } td { (key) } td { (cols) } }
                                        } }
                                    }
                                    @if c.total > c.listed.len() as u64 {
                                        p class="more" { "Showing " (c.listed.len()) " of " (c.total) " changes." }
                                    }
                                }
                            }
                        }
                    }
                    section aria-labelledby="last-run" {
                        h2 id="last-run" { "The last run" }
                        @match &p.last_run {
                            None => p {
                                "No run record under " code { "runs/" } " (" code { "fleetcmdb serve" } " keeps one per run; "
                                code { "export --json" } " prints the same summary). The copy shown was written by the run of "
                                code { (p.version) } "."
                            },
                            Some(r) => {
                                p {
                                    "Run " code { (r.id) } " started " (r.started) ", took " (format!("{:.1}", r.seconds))
                                    " s: " span class=[(r.status != "success").then_some("warn")] { b id="run-status" { (r.status) } } "."
                                }
                                @if r.failures.is_empty() { p { "Nothing failed." } } @else {
                                    table id="failures" class="sortable" {
                                        (head(&[("where", false), ("why", false)]))
                                        tbody { @for (at, why) in r.failures.iter().take(LIST_ROWS) {
                                            tr class="warn" { td { (at) } td { (why) } }
                                        } }
                                    }
                                    (more(r.failures.len()))
                                }
                            }
                        }
                    }
                }
                script { (PreEscaped(SCRIPT)) }
            }
        }
    };
    page.into_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Group, OpenFleet, Window};

    #[test]
    fn the_script_hash_is_standard_base64_of_sha256() {
        // echo -n abc | openssl dgst -sha256 -binary | base64
        assert_eq!(
            sha256_base64("abc"),
            "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
        );
    }

    #[test]
    fn values_are_escaped_and_the_page_loads_nothing() {
        let hostile = "<script>alert(1)</script>\"'\u{202e}";
        let p = Picture {
            destination: hostile.into(),
            by_account: vec![(hostile.into(), 3), ("b".into(), 1)],
            groups: vec![Group {
                groupname: hostile.into(),
                ..Group::default()
            }],
            open: vec![OpenFleet {
                accountid: "1".into(),
                region: "r".into(),
                groupname: "g".into(),
                fleet: hostile.into(),
                security_group: "sg".into(),
                security_group_name: hostile.into(),
                open_ports: "tcp/22".into(),
                instances: 2,
            }],
            ..Picture::default()
        };
        let page = render(&p);
        assert!(!page.contains("<script>alert"), "escaped");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert_eq!(page.matches("<script>").count(), 1, "one script: ours");
        for external in [
            "src=\"http",
            "href=\"http",
            "url(",
            "@import",
            "<link",
            "<img",
        ] {
            assert!(!page.contains(external), "{external}");
        }
    }

    #[test]
    fn extreme_times_in_a_file_are_drawn_without_overflow() {
        let w = |start_ms, end_ms| Window {
            accountid: "1".into(),
            region: "r".into(),
            groupname: "g".into(),
            fleet: "f".into(),
            name: "w".into(),
            start_ms,
            end_ms,
        };
        let p = Picture {
            now_ms: 1_764_000_000_000,
            upcoming: vec![w(i64::MIN, i64::MAX), w(i64::MAX - 1, i64::MAX)],
            ..Picture::default()
        };
        let svg = timeline(&p).into_string();
        assert_eq!(svg.matches("class=\"bar window\"").count(), 2);
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
    }

    #[test]
    fn charts_draw_one_bar_per_label_up_to_a_limit() {
        let few: Counts = vec![("a".into(), 5), ("b".into(), 2)];
        assert_eq!(
            bars("x", "t", &few, "i")
                .into_string()
                .matches("class=\"bar\"")
                .count(),
            2
        );
        let many: Counts = (0..100).map(|i| (format!("acct {i}"), 100 - i)).collect();
        let svg = bars("x", "t", &many, "i").into_string();
        assert_eq!(svg.matches("class=\"bar\"").count(), MAX_BARS);
        assert!(svg.contains("61 others"), "the rest in one bar");
        let rest: u64 = (39..100).map(|i| 100 - i).sum();
        assert!(svg.contains(&format!("data-value=\"{rest}\"")));
    }
}
