"""`fleetcmdb report` as a person sees it: a real Chromium (headless) loads the
page from a file and from `serve`, and the tests read what it drew.

- The numbers on the page equal the same questions asked of DuckDB (the
  views of queries/ over the Parquet, as test_queries.py loads them).
- The charts are drawn: one bar per account on the demo.
- Nothing is requested from the network, and the page references nothing
  outside itself.
- axe-core (npm, pinned in tests/npm) finds no serious or critical
  accessibility violation.
- Hostile values (markup, quotes, a right-to-left mark) are shown as text,
  never run.
A screenshot of the demo's page is kept under $FLEETCMDB_ARTIFACTS
(default ~/.cache/fleetcmdb-artifacts): a CI artefact, not committed.
"""
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import AS_OF, binary
from test_queries import load

ARTIFACTS = Path(os.environ.get("FLEETCMDB_ARTIFACTS", Path.home() / ".cache" / "fleetcmdb-artifacts"))
HOSTILE = "<img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned'</script>\"' \u202eevil"


def chromium(tmp: Path, *args, timeout=120):
    exe = os.environ.get("CHROMIUM") or shutil.which("chromium")
    assert exe, "chromium is not installed (scripts/test-env installs it)"
    profile = tmp / "chromium-profile"
    p = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                        "--no-first-run", "--disable-extensions", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}", *args],
                       capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, p.stderr[-2000:]
    return p.stdout


def dom(tmp: Path, url: str, budget_ms=5000):
    """The page's DOM once Chromium has loaded it and run its scripts."""
    return chromium(tmp, f"--virtual-time-budget={budget_ms}", "--dump-dom", url)


class Page(HTMLParser):
    """What a reader needs from a DOM: text by id, bars by chart, tables' rows."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.text_of, self.bars, self.rows = {}, {}, {}
        self.stack, self.open_ids, self.svg, self.table = [], [], None, None
        # The document's title: the first <title>, in <head> (SVG titles come later).
        m = re.search(r"<title>(.*?)</title>", text, re.S)
        self.title = m.group(1) if m else ""
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.stack.append((tag, a.get("id")))
        if a.get("id"):
            self.open_ids.append(a["id"])
            self.text_of[a["id"]] = ""
        if tag == "svg":
            self.svg = a.get("id")
            self.bars.setdefault(self.svg, [])
        if tag == "rect" and "bar" in (a.get("class") or "").split() and self.svg:
            self.bars[self.svg].append((a.get("data-label"), a.get("data-value")))
        if tag == "table":
            self.table = a.get("id")
            self.rows.setdefault(self.table, 0)
        if tag == "tr" and self.table and self.stack[-2][0] == "tbody":
            self.rows[self.table] += 1

    def handle_endtag(self, tag):
        while self.stack:
            t, i = self.stack.pop()
            if i and self.open_ids and self.open_ids[-1] == i:
                self.open_ids.pop()
            if t == tag:
                break
        if tag == "svg":
            self.svg = None
        if tag == "table":
            self.table = None

    def handle_data(self, data):
        for i in self.open_ids:
            self.text_of[i] += data


def report(out: Path, html: Path, *extra):
    p = subprocess.run([binary(), "report", "--out", str(out), "--html", str(html), "--as-of", AS_OF, *extra],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return html.read_text()


@pytest.fixture(scope="module")
def page(export, tmp_path_factory):
    root, summary = export
    tmp = tmp_path_factory.mktemp("report")
    html = report(root, tmp / "report.html")
    return root, tmp, html, Page(dom(tmp, (tmp / "report.html").as_uri()))


def one(con, sql):
    return con.execute(sql).fetchone()[0]


def test_the_numbers_are_what_duckdb_answers(page):
    root, _, _, p = page
    c = load(root)
    want = {
        "n-accounts": one(c, "SELECT count(*) FROM cmdb_accounts"),
        "n-groups": one(c, "SELECT count(*) FROM cmdb_discovery"),
        "n-instances": one(c, "SELECT count(*) FROM cmdb_instances"),
        "n-running": one(c, "SELECT count(*) FROM cmdb_instances WHERE state.name = 'running'"),
        "n-without-window": one(c, "SELECT count(*) FROM groups_without_maintenance_window"),
        "n-open": one(c, "SELECT count(*) FROM fleets_open_to_the_internet"),
        "n-overdue": one(c, f"SELECT count(*) FROM cmdb_discovery WHERE nextbackuptime < TIMESTAMPTZ '{AS_OF}'"),
    }
    got = {k: int(p.text_of[k]) for k in want}
    assert got == want
    assert 0 < want["n-running"] < want["n-instances"] and want["n-open"] > 0, "the demo has something to show"
    # The lists show what the views list.
    assert p.rows["in-maintenance"] == min(200, one(c, "SELECT count(*) FROM fleets_in_maintenance_now"))
    assert p.rows["open"] == want["n-open"]
    assert p.rows["backups-table"] == want["n-groups"]


def test_the_charts_have_one_bar_per_account_region_and_state(page):
    root, _, _, p = page
    c = load(root)
    per_account = dict(c.execute("""SELECT a.accountid, count(i.instanceid) FROM cmdb_accounts a
                                    LEFT JOIN cmdb_instances i USING (accountid) GROUP BY 1""").fetchall())
    bars = {re.search(r"\((\d{12})\)$", label).group(1): int(v) for label, v in p.bars["by-account"]}
    assert bars == per_account and len(bars) == one(c, "SELECT count(*) FROM cmdb_accounts")
    assert {l: int(v) for l, v in p.bars["by-region"]} == dict(
        c.execute("SELECT region, count(*) FROM cmdb_instances GROUP BY 1").fetchall())
    assert {l: int(v) for l, v in p.bars["by-state"]} == dict(
        c.execute("SELECT state.name, count(*) FROM cmdb_instances GROUP BY 1").fetchall())
    ou = dict(c.execute("""SELECT a.oupath, count(*) FROM cmdb_instances i JOIN cmdb_accounts a USING (accountid)
                           GROUP BY 1""").fetchall())
    assert {l: int(v) for l, v in p.bars["by-ou"]} == ou


def test_the_page_stands_alone_and_requests_nothing(page):
    _, tmp, html, p = page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html, re.I), "no external reference"
    assert "url(" not in html and "@import" not in html and "<link" not in html
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    # The same page with a probe appended (and the policy that would block the probe removed):
    # the browser's own record of every resource it fetched must be empty.
    probe = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html).replace(
        "</body>", "<script>document.body.setAttribute('data-resources', "
                   "JSON.stringify(performance.getEntriesByType('resource').map(function (e) { return e.name; })))"
                   "</script></body>")
    (tmp / "probe.html").write_text(probe)
    got = dom(tmp, (tmp / "probe.html").as_uri())
    m = re.search(r'data-resources="([^"]*)"', got)
    assert m, "the probe ran"
    assert json.loads(m.group(1).replace("&quot;", '"')) == []
    assert len(html.encode()) < 2 * 1024 * 1024


def test_sorting_a_table_reorders_its_rows(page):
    _, tmp, html, _ = page
    # Click the last column of the exposure table (instances) twice: descending.
    clicker = html.replace("</body>", "")
    script = ("<script>var b = document.querySelectorAll('#open th button'); var last = b[b.length - 1];"
              "last.click(); last.click(); document.body.setAttribute('data-sorted', "
              "Array.prototype.map.call(document.querySelectorAll('#open tbody tr'), function (r) {"
              " return r.lastElementChild.textContent; }).join(','));</script></body>")
    probe = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", clicker + script)
    (tmp / "sort.html").write_text(probe)
    got = dom(tmp, (tmp / "sort.html").as_uri())
    values = [int(v) for v in re.search(r'data-sorted="([^"]*)"', got).group(1).split(",")]
    assert values == sorted(values, reverse=True) and len(set(values)) > 1


def test_axe_finds_no_serious_or_critical_violation(page):
    _, tmp, html, _ = page
    axe = Path(os.environ.get("AXE_CORE", ""))
    assert axe.is_file(), "AXE_CORE must point at axe.min.js (scripts/test-env installs it)"
    runner = ("<script>" + axe.read_text() + "</script><script>axe.run(document, {resultTypes: ['violations']})"
              ".then(function (r) { var pre = document.createElement('pre'); pre.id = 'axe-result';"
              " pre.textContent = JSON.stringify(r.violations.map(function (v) {"
              " return {id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help}; }));"
              " document.body.appendChild(pre); });</script></body>")
    probe = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html).replace("</body>", runner)
    (tmp / "axe.html").write_text(probe)
    got = Page(dom(tmp, (tmp / "axe.html").as_uri(), budget_ms=30000))
    assert "axe-result" in got.text_of, "axe ran"
    violations = json.loads(got.text_of["axe-result"])
    serious = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert serious == [], serious


def test_a_screenshot_is_kept(page):
    _, tmp, _, _ = page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "report-demo.png"
    shot.unlink(missing_ok=True)
    chromium(tmp, "--window-size=1280,2200", "--hide-scrollbars", f"--screenshot={shot}",
             (tmp / "report.html").as_uri())
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_hostile_values_are_shown_never_run(tmp_path):
    snap, out = tmp_path / "snap", tmp_path / "out"
    subprocess.run([binary(), "gen-snapshot", str(snap), "--demo-accounts", "1", "--demo-groups", "1"],
                   check=True, capture_output=True)
    (acct,) = [d for d in snap.iterdir() if d.is_dir()]
    f = acct / "organizations-describe-account.json"
    doc = json.loads(f.read_text())
    doc["Account"]["Name"] = HOSTILE
    f.write_text(json.dumps(doc))
    for ou in acct.glob("organizations-describe-organizational-unit-*.json"):
        d = json.loads(ou.read_text())
        d["OrganizationalUnit"]["Name"] = HOSTILE
        ou.write_text(json.dumps(d))
    p = subprocess.run([binary(), "export", "--snapshot", str(snap), "--out", str(out), "--as-of", AS_OF],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    html = report(out, tmp_path / "r.html")
    assert "<script>document.title" not in html and "onerror=\"document" not in html
    got = Page(dom(tmp_path, (tmp_path / "r.html").as_uri()))
    assert "pwned" not in got.title and got.title.startswith("fleetcmdb")
    labels = [l for l, _ in got.bars["by-account"]] + [l for l, _ in got.bars["by-ou"]]
    assert any(HOSTILE in l for l in labels), labels


def test_serve_draws_the_page_after_a_run_and_serves_it(tmp_path):
    from test_serve import Daemon
    d = Daemon(tmp_path, "--demo", "--demo-accounts", "2", "--schedule", "disabled")
    try:
        code, _ = d.request("GET", "/")
        assert code == 404, "no copy yet: no page"
        assert d.request("POST", "/v1/export")[0] == 202
        d.wait_idle(1)
        code, body = d.request("GET", "/")
        assert code == 200 and body.startswith("<!DOCTYPE html>")
        assert (d.out / "report.html").read_text() == body, "written next to the export too"
        p = Page(dom(tmp_path, f"http://127.0.0.1:{d.port}/"))
        assert len(p.bars["by-account"]) == 2 and p.text_of["n-accounts"] == "2"
        assert p.text_of["run-status"] == "success", "the last run is the daemon's"
        assert d.stop() == 0
    finally:
        d.kill()


def test_the_changes_are_what_diff_says(tmp_path):
    """Two snapshots a revision apart: the page's counts per table equal `diff --json`'s."""
    out = tmp_path / "cmdb"
    for when, rev in (("2026-11-30T09:00:00Z", "0"), ("2026-12-01T09:00:00Z", "1")):
        subprocess.run([binary(), "export", "--demo", "--demo-accounts", "2", "--out", str(out), "--history",
                        "--as-of", when, "--demo-revision", rev], check=True, capture_output=True)
    p = subprocess.run([binary(), "diff", "--out", str(out), "--json"], capture_output=True, text=True, check=True)
    want = {}
    for line in p.stdout.splitlines():
        c = json.loads(line)
        added, removed, changed = want.get(c["table"], (0, 0, 0))
        want[c["table"]] = (added + (c["change"] == "added"), removed + (c["change"] == "removed"),
                            changed + (c["change"] == "changed"))
    assert want, "revision 1 changes something"
    html = report(out, tmp_path / "r.html")
    rows = re.findall(r'<tr><td>([a-z_]+)</td><td class="n">(\d+)</td><td class="n">(\d+)</td>'
                      r'<td class="n">(\d+)</td></tr>', html.split('id="change-counts"', 1)[1].split("</table>", 1)[0])
    got = {t: (int(a), int(r), int(c)) for t, a, r, c in rows}
    assert {t: n for t, n in got.items() if n != (0, 0, 0)} == want
    listed = Page(html).rows["change-list"]
    assert listed == min(50, sum(sum(n) for n in want.values()))


def test_the_last_run_lists_its_failures_and_bad_input_is_refused_by_name(export, tmp_path):
    root, _ = export
    out = tmp_path / "cmdb"
    shutil.copytree(root, out)
    (out / "runs").mkdir()
    record = {"id": "2026-11-22T03-00-00Z-scheduled-0000abcd-1", "status": "partial",
              "started": "2026-11-22T03:00:00Z", "seconds": 12.5,
              "failures": [{"scope": "111111111111/eu-west-1", "group": "web", "error": f"AccessDenied {HOSTILE}"},
                           {"scope": "222222222222/us-east-1", "group": None, "error": "throttled"}]}
    (out / "runs" / f"{record['id']}.json").write_text(json.dumps(record))
    html = report(out, tmp_path / "r.html")
    got = Page(html)
    assert got.text_of["run-status"] == "partial" and got.rows["failures"] == 2
    assert "111111111111/eu-west-1/web" in html and "<script>document.title" not in html
    # A record that is not JSON: a clear error naming it, and the page written before stays.
    before = (tmp_path / "r.html").read_bytes()
    (out / "runs" / "2026-11-22T04-00-00Z-scheduled-0000abcd-2.json").write_text("{not json")
    p = subprocess.run([binary(), "report", "--out", str(out), "--html", str(tmp_path / "r.html")],
                       capture_output=True, text=True)
    assert p.returncode != 0 and "2026-11-22T04-00-00Z-scheduled-0000abcd-2.json" in p.stderr \
        and "malformed JSON" in p.stderr, p.stderr
    assert (tmp_path / "r.html").read_bytes() == before
    # No query-ready copy: exit 2, saying what writes one.
    shutil.rmtree(out / "query")
    p = subprocess.run([binary(), "report", "--out", str(out), "--html", str(tmp_path / "none.html")],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "consolidate" in p.stderr and not (tmp_path / "none.html").exists(), p.stderr
