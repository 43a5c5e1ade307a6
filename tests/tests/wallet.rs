//! The operator keystore and the wallet CLI end to end: real `cpcd key|tx|query|poc`
//! processes, and a real `cpcd --dev` node for the wallet.
//!
//! Keys are written with `CPCD_INSECURE_TEST_KDF=1` (tiny Argon2id parameters stored in the
//! file) so that the tests stay cheap on a shared 2-core machine; the production defaults are
//! exercised by the unit tests in node/src/keystore.rs. Every command gets --password-file:
//! none may fall back to a terminal prompt.

use cpc_primitives::*;
use cpcd_tests::*;
use serde_json::Value;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const PASSWORD: &str = "correct horse battery staple";

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn ok(self) -> Out {
        assert_eq!(self.code, 0, "expected success; stdout: {}\nstderr: {}", self.stdout, self.stderr);
        self
    }
    fn fails_with(self, want: &str) -> Out {
        assert_ne!(self.code, 0, "expected a failure; stdout: {}\nstderr: {}", self.stdout, self.stderr);
        assert!(self.stderr.contains(want), "stderr should contain {want:?}: {}", self.stderr);
        self
    }
    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

/// Runs `cpcd ARGS` (optionally with stdin), recording everything it printed in `seen`.
fn cpcd(seen: &mut Vec<String>, args: &[&str], stdin: Option<&str>) -> Out {
    let mut child = Command::new(cpcd_path())
        .args(args)
        .env("CPCD_INSECURE_TEST_KDF", "1")
        .env_remove("CPCD_NODE")
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning cpcd");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    let o = child.wait_with_output().unwrap();
    let out = Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    seen.push(format!("$ cpcd {}\n{}{}", args.join(" "), out.stdout, out.stderr));
    out
}

fn write_private(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A keystore directory and password file in a temporary directory.
struct Wallet {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    ks: String,
    pw: String,
}

impl Wallet {
    fn new() -> Wallet {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let pw = root.join("password");
        write_private(&pw, &format!("{PASSWORD}\n"));
        Wallet {
            ks: root.join("keystore").display().to_string(),
            pw: pw.display().to_string(),
            root,
            _tmp: tmp,
        }
    }

    fn import(&self, seen: &mut Vec<String>, sk: &SecretKey) {
        let sf = self.root.join("secret");
        write_private(&sf, &format!("{}\n", sk.to_hex()));
        let out = cpcd(seen, &["key", "import", "--keystore", &self.ks, "--password-file", &self.pw, "--secret-file", sf.to_str().unwrap()], None).ok();
        assert!(out.stdout.contains(&addr_of(sk).to_string()), "{}", out.stdout);
        std::fs::remove_file(sf).unwrap();
    }
}

#[test]
fn keystore_round_trip_permissions_and_secrecy() {
    let w = Wallet::new();
    let mut seen = Vec::new();
    let k = keys();
    let (sk, sk2) = (&k[1], &k[2]);
    let (addr, addr2) = (addr_of(sk), addr_of(sk2));
    let secret = sk.to_hex();
    let ks = w.ks.as_str();
    let pw = w.pw.as_str();

    // import from a file
    w.import(&mut seen, sk);
    let file = Path::new(ks).join(format!("{addr}.json"));
    assert_eq!(mode(&file), 0o600, "key file mode");
    assert_eq!(mode(Path::new(ks)), 0o700, "keystore directory mode");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains(&secret), "the key file holds the secret in clear");
    let kf: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(kf["version"], 1);
    assert_eq!(kf["kdf"]["name"], "argon2id");
    assert_eq!(kf["cipher"]["name"], "xchacha20-poly1305");
    assert_eq!(kf["address"], addr.to_string());

    // the same key again is refused; import from stdin works
    cpcd(&mut seen, &["key", "import", "--keystore", ks, "--password-file", pw], Some(&secret)).fails_with("already exists");
    let out = cpcd(&mut seen, &["key", "import", "--keystore", ks, "--password-file", pw], Some(&format!("{}\n", sk2.to_hex()))).ok();
    assert!(out.stdout.contains(&addr2.to_string()));
    // a malformed secret is refused without being echoed
    let almost = &secret[..63];
    let out = cpcd(&mut seen, &["key", "import", "--keystore", ks, "--password-file", pw], Some(almost)).fails_with("64 hex digits");
    assert!(!out.stderr.contains(almost));

    // list / show
    let out = cpcd(&mut seen, &["key", "list", "--keystore", ks], None).ok();
    let mut want = vec![addr.to_string(), addr2.to_string()];
    want.sort();
    assert_eq!(out.stdout.lines().collect::<Vec<_>>(), want);
    let listed = cpcd(&mut seen, &["key", "list", "--keystore", ks, "--json"], None).ok().json();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let out = cpcd(&mut seen, &["key", "show", &addr.to_string(), "--keystore", ks], None).ok();
    assert!(out.stdout.contains(&addr.to_string()) && out.stdout.contains(&sk.public_key().to_hex()), "{}", out.stdout);
    let shown = cpcd(&mut seen, &["key", "show", &addr.to_string(), "--keystore", ks, "--json"], None).ok().json();
    assert_eq!(shown["public_key"], sk.public_key().to_hex());

    // export: needs the explicit flag, then the right password
    cpcd(&mut seen, &["key", "export", &addr.to_string(), "--keystore", ks, "--password-file", pw], None)
        .fails_with("--i-understand-this-prints-the-secret");
    let export = cpcd(
        &mut seen,
        &["key", "export", &addr.to_string(), "--keystore", ks, "--password-file", pw, "--i-understand-this-prints-the-secret"],
        None,
    )
    .ok();
    assert_eq!(export.stdout.trim(), secret);
    let bad_pw = w.root.join("bad-password");
    write_private(&bad_pw, "correct horse battery stapler\n");
    cpcd(
        &mut seen,
        &["key", "export", &addr.to_string(), "--keystore", ks, "--password-file", bad_pw.to_str().unwrap(), "--i-understand-this-prints-the-secret"],
        None,
    )
    .fails_with("wrong password or corrupted key file");
    // an unknown address
    let stranger = addr_of(&k[7]).to_string();
    cpcd(&mut seen, &["key", "show", &stranger, "--keystore", ks], None).fails_with("no key for");

    // a key file readable by group is refused (like ssh), by every command that reads it
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    cpcd(&mut seen, &["key", "show", &addr.to_string(), "--keystore", ks], None).fails_with("too open");
    cpcd(
        &mut seen,
        &["key", "export", &addr.to_string(), "--keystore", ks, "--password-file", pw, "--i-understand-this-prints-the-secret"],
        None,
    )
    .fails_with("too open");
    cpcd(&mut seen, &["key", "list", "--keystore", ks], None).fails_with("too open");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();

    // new, in <datadir>/keystore
    let datadir = w.root.join("data");
    let created = cpcd(&mut seen, &["key", "new", "--datadir", datadir.to_str().unwrap(), "--password-file", pw, "--json"], None).ok().json();
    let new_addr = created["address"].as_str().unwrap().to_string();
    let new_file = datadir.join("keystore").join(format!("{new_addr}.json"));
    assert_eq!(created["file"], new_file.display().to_string());
    assert_eq!(mode(&new_file), 0o600);
    assert_eq!(mode(&datadir.join("keystore")), 0o700);
    let out = cpcd(&mut seen, &["key", "list", "--datadir", datadir.to_str().unwrap()], None).ok();
    assert_eq!(out.stdout.trim(), new_addr);
    // --keystore and --datadir together are ambiguous
    assert_ne!(cpcd(&mut seen, &["key", "list", "--datadir", "x", "--keystore", "y"], None).code, 0);
    // an empty password is refused
    let empty_pw = w.root.join("empty-password");
    write_private(&empty_pw, "\n");
    cpcd(&mut seen, &["key", "new", "--keystore", ks, "--password-file", empty_pw.to_str().unwrap()], None).fails_with("empty password");

    // delete: needs --yes
    cpcd(&mut seen, &["key", "delete", &addr2.to_string(), "--keystore", ks], None).fails_with("--yes");
    cpcd(&mut seen, &["key", "delete", &addr2.to_string(), "--keystore", ks, "--yes"], None).ok();
    let out = cpcd(&mut seen, &["key", "list", "--keystore", ks], None).ok();
    assert_eq!(out.stdout.trim(), addr.to_string());

    // help texts
    for args in [&["key", "--help"][..], &["key", "export", "--help"], &["key", "import", "--help"], &["tx", "transfer", "--help"]] {
        cpcd(&mut seen, args, None).ok();
    }

    // The secret appeared nowhere but in export's stdout.
    let export_record = seen.iter().position(|s| s.contains(&secret) && s.contains("--i-understand")).unwrap();
    for (i, s) in seen.iter().enumerate() {
        if i == export_record {
            continue;
        }
        for secret in [sk.to_hex(), sk2.to_hex()] {
            assert!(!s.contains(&secret) && !s.contains(&secret.to_uppercase()), "the secret leaked in:\n{s}");
        }
    }
}

fn query_balance(seen: &mut Vec<String>, node: &str, a: &Address) -> u128 {
    let v = cpcd(seen, &["query", "balance", &a.to_string(), "--node", node, "--json"], None).ok().json();
    v.as_str().unwrap().parse().unwrap()
}

#[test]
fn wallet_transfer_end_to_end() {
    let node = NodeProc::start_dev(None, &["--dev.block-time", "200ms"]).unwrap();
    let url = node.rpc_url.clone();
    let w = Wallet::new();
    let mut seen = Vec::new();
    let k = keys();
    let (from, to) = (addr_of(&k[1]), addr_of(&k[2]));
    w.import(&mut seen, &k[1]);
    let (f, t) = (from.to_string(), to.to_string());
    let wallet_args = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = ["--node", &url, "--keystore", &w.ks, "--password-file", &w.pw].iter().map(|s| s.to_string()).collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run = |seen: &mut Vec<String>, args: Vec<String>| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        cpcd(seen, &a, None)
    };

    // 1.5 CPC at the default gas price, --wait --json
    let (b_from, b_to) = (query_balance(&mut seen, &url, &from), query_balance(&mut seen, &url, &to));
    let mut args: Vec<String> = ["tx", "transfer", "--from", &f, "--to", &t, "--amount", "1.5cpc", "--wait", "--json"].iter().map(|s| s.to_string()).collect();
    args.extend(wallet_args(&[]));
    let v = run(&mut seen, args).ok().json();
    let hash = v["hash"].as_str().unwrap().to_string();
    assert_eq!(v["receipt"]["tx_hash"], hash);
    assert_eq!(v["receipt"]["status"], "success");
    assert_eq!(v["receipt"]["fee_paid"], (21_000u128 * 1000).to_string());
    assert_eq!(v["tx"]["amount"], (3 * UNITS_PER_CPC / 2).to_string());
    assert_eq!(v["tx"]["gas_limit"], 21_000);
    let tx: Transaction = serde_json::from_value(v["tx"].clone()).unwrap();
    assert_eq!(tx.hash().to_hex(), hash);
    tx.pub_key.verify_strict(&tx.signing_bytes(), &tx.signature).unwrap();
    assert_eq!(query_balance(&mut seen, &url, &from), b_from - 3 * UNITS_PER_CPC / 2 - 21_000 * 1000);
    assert_eq!(query_balance(&mut seen, &url, &to), b_to + 3 * UNITS_PER_CPC / 2);

    // base units, another gas price, a memo, human output
    let (b_from, b_to) = (query_balance(&mut seen, &url, &from), query_balance(&mut seen, &url, &to));
    let mut args: Vec<String> = ["tx", "transfer", "--from", &f, "--to", &t, "--amount", "2500", "--gas-price", "2000", "--memo", "hello wallet", "--wait"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(wallet_args(&[]));
    let out = run(&mut seen, args).ok();
    let hash2 = out.stdout.lines().next().unwrap().trim().to_string();
    assert!(H256::from_hex(&hash2).is_ok(), "first line is the hash: {}", out.stdout);
    assert!(out.stdout.contains("success"), "{}", out.stdout);
    assert_eq!(query_balance(&mut seen, &url, &from), b_from - 2500 - 21_000 * 2000);
    assert_eq!(query_balance(&mut seen, &url, &to), b_to + 2500);
    let txv = cpcd(&mut seen, &["query", "tx", &hash2, "--node", &url, "--json"], None).ok().json();
    assert_eq!(txv["payload"]["memo"], "hello wallet");
    assert_eq!(txv["gas_price"], 2000);
    assert_eq!(txv["nonce"], 1);
    let out = cpcd(&mut seen, &["query", "tx", &hash2, "--node", &url], None).ok();
    assert!(out.stdout.contains("TRANSFER") && out.stdout.contains(&f));
    let r = cpcd(&mut seen, &["query", "receipt", &hash2, "--node", &url, "--json"], None).ok().json();
    assert_eq!(r["fee_paid"], (21_000u128 * 2000).to_string());
    let out = cpcd(&mut seen, &["query", "receipt", &hash2, "--node", &url], None).ok();
    assert!(out.stdout.contains("success") && out.stdout.contains(&format_cpc(21_000 * 2000)), "{}", out.stdout);

    // account, balance text, blocks by height / hash / latest
    let acc = cpcd(&mut seen, &["query", "account", &f, "--node", &url, "--json"], None).ok().json();
    assert_eq!((acc["nonce"].as_u64(), acc["pending_nonce"].as_u64()), (Some(2), Some(2)));
    let out = cpcd(&mut seen, &["query", "balance", &t, "--node", &url], None).ok();
    assert!(out.stdout.contains(&format_cpc(b_to + 2500)), "{}", out.stdout);
    let height = r["block_height"].as_u64().unwrap();
    let blk = cpcd(&mut seen, &["query", "block", &height.to_string(), "--full", "--node", &url, "--json"], None).ok().json();
    assert_eq!(blk["hash"], r["block_hash"]);
    assert!(blk["transactions"].as_array().unwrap().iter().any(|t| t["hash"] == hash2.as_str()));
    let by_hash = cpcd(&mut seen, &["query", "block", r["block_hash"].as_str().unwrap(), "--node", &url, "--json"], None).ok().json();
    assert_eq!(by_hash["header"]["height"], height);
    let latest = cpcd(&mut seen, &["query", "block", "latest", "--node", &url, "--json"], None).ok().json();
    assert!(latest["header"]["height"].as_u64().unwrap() >= height);
    let out = cpcd(&mut seen, &["query", "block", &height.to_string(), "--node", &url], None).ok();
    assert!(out.stdout.contains(&hash2), "{}", out.stdout);

    // errors: each clear and non-zero
    let tx_args = |amount: &str, extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = ["tx", "transfer", "--from", &f, "--to", &t, "--amount", amount].iter().map(|s| s.to_string()).collect();
        v.extend(wallet_args(extra));
        v
    };
    run(&mut seen, tx_args("1.5", &[])).fails_with("decimal point but no unit");
    run(&mut seen, tx_args("1.0000000000000000001cpc", &[])).fails_with("at most 18");
    run(&mut seen, tx_args("-1cpc", &[])).fails_with("negative");
    run(&mut seen, tx_args("lots", &[])).fails_with("expected an amount");
    run(&mut seen, tx_args("1000000000cpc", &[])).fails_with("insufficient balance");
    let out = run(&mut seen, tx_args("1cpc", &["--gas-price", "1"])).fails_with("the node rejected the transaction");
    assert!(out.stderr.contains("gas_price") && out.stderr.contains("1000"), "the node's rule is shown: {}", out.stderr);
    let bad_pw = w.root.join("bad");
    write_private(&bad_pw, "nope\n");
    let args: Vec<String> = ["tx", "transfer", "--from", &f, "--to", &t, "--amount", "1cpc", "--node", &url, "--keystore", &w.ks]
        .iter()
        .map(|s| s.to_string())
        .chain(["--password-file".to_string(), bad_pw.display().to_string()])
        .collect();
    run(&mut seen, args).fails_with("wrong password or corrupted key file");
    let mut args: Vec<String> = ["tx", "transfer", "--from", &t, "--to", &f, "--amount", "1cpc"].iter().map(|s| s.to_string()).collect();
    args.extend(wallet_args(&[]));
    run(&mut seen, args).fails_with("no key for");
    cpcd(&mut seen, &["query", "balance", &f, "--node", "http://127.0.0.1:1"], None).fails_with("cannot reach the node");
    cpcd(&mut seen, &["query", "receipt", &"ab".repeat(32), "--node", &url], None).fails_with("not found");
    cpcd(&mut seen, &["query", "block", "999999", "--node", &url], None).fails_with("not found");
    // nothing moved through the failed attempts
    assert_eq!(query_balance(&mut seen, &url, &from), b_from - 2500 - 21_000 * 2000);

    let secret = k[1].to_hex();
    assert!(seen.iter().all(|s| !s.contains(&secret)), "the secret leaked");
    drop(node);
}

#[test]
fn submit_result_from_poc_solve() {
    // 500 ms blocks: the task window (16 blocks) leaves 8 s to solve and submit.
    let node = NodeProc::start_dev(None, &["--dev.block-time", "500ms"]).unwrap();
    let url = node.rpc_url.clone();
    let w = Wallet::new();
    let mut seen = Vec::new();
    let k = keys();
    let me = addr_of(&k[3]);
    let other = addr_of(&k[4]);
    w.import(&mut seen, &k[3]);

    let tip = cpcd(&mut seen, &["query", "block", "latest", "--node", &url, "--json"], None).ok().json();
    let tip_hash = tip["hash"].as_str().unwrap().to_string();
    let solve = |seen: &mut Vec<String>, nonce: u64| {
        cpcd(seen, &["poc", "solve", "--tip", &tip_hash, "--worker", &me.to_string(), "--nonce", &nonce.to_string()], None).ok().stdout
    };
    let result = solve(&mut seen, 0);
    let file = w.root.join("result.json");
    std::fs::write(&file, &result).unwrap();
    let common = ["--node", url.as_str(), "--keystore", w.ks.as_str(), "--password-file", w.pw.as_str()];

    // another sender than the worker is refused before anything is sent
    let other_s = other.to_string();
    let mut args = vec!["tx", "submit-result", "--from", &other_s, "--file", file.to_str().unwrap()];
    args.extend(common);
    cpcd(&mut seen, &args, None).fails_with("worker_address");

    // from the file, signed by the worker, waited for
    let me_s = me.to_string();
    let mut args = vec!["tx", "submit-result", "--from", &me_s, "--file", file.to_str().unwrap(), "--sign-result", "--wait", "--json"];
    args.extend(common);
    let v = cpcd(&mut seen, &args, None).ok().json();
    assert_eq!(v["receipt"]["status"], "success");
    assert_eq!(v["receipt"]["gas_used"], 80_000);
    assert_eq!(v["tx"]["tx_type"], "SUBMIT_RESULT");
    assert_eq!(v["tx"]["to_address"], Value::Null);
    let height = v["receipt"]["block_height"].as_u64().unwrap();
    let hash = v["hash"].as_str().unwrap();

    let res = cpcd(&mut seen, &["query", "results", &height.to_string(), "--node", &url, "--json"], None).ok().json();
    let entry = res["results"].as_array().unwrap().iter().find(|r| r["tx_hash"] == hash).expect("the result is in its block");
    assert_eq!(entry["synthetic"], true);
    assert_eq!(entry["result"]["worker_address"], me_s);
    let solved: Value = serde_json::from_str(result.trim()).unwrap();
    assert_eq!(entry["result"]["result_hash"], solved["result_hash"]);
    // --sign-result: the worker signature verifies
    let r: ComputeResult = serde_json::from_value(entry["result"].clone()).unwrap();
    let sig = Signature::from_hex(r.signature.as_deref().expect("signed")).unwrap();
    k[3].public_key().verify_strict(&r.signing_bytes(), &sig).unwrap();
    assert!(entry["reward"].is_string(), "a verified synthetic result is paid");
    let out = cpcd(&mut seen, &["query", "results", &height.to_string(), "--node", &url], None).ok();
    assert!(out.stdout.contains("synthetic  true"), "{}", out.stdout);

    // from stdin, unsigned
    let result1 = solve(&mut seen, 1);
    let mut args = vec!["tx", "submit-result", "--from", &me_s, "--wait", "--json"];
    args.extend(common);
    let v = cpcd(&mut seen, &args, Some(&result1)).ok().json();
    assert_eq!(v["receipt"]["status"], "success");
    assert_eq!(v["tx"]["payload"]["signature"], Value::Null);
    // garbage on stdin
    cpcd(&mut seen, &args, Some("{\"task_id\": 1}")).fails_with("ComputeResult");

    let secret = k[3].to_hex();
    assert!(seen.iter().all(|s| !s.contains(&secret)), "the secret leaked");
    drop(node);
}

#[test]
fn staking_commands_end_to_end() {
    // The dev chain stays one validator (dev-0), but delegation, rewards, unbonding and the
    // local refusals all work on it.
    let node = NodeProc::start_dev(None, &["--dev.block-time", "200ms"]).unwrap();
    let url = node.rpc_url.clone();
    let w = Wallet::new();
    let mut seen = Vec::new();
    let k = keys();
    w.import(&mut seen, &k[1]);
    let (d, v) = (addr_of(&k[1]).to_string(), addr_of(&k[0]).to_string());
    let run = |seen: &mut Vec<String>, args: &[&str]| {
        let mut a: Vec<&str> = args.to_vec();
        a.extend(["--node", &url, "--keystore", &w.ks, "--password-file", &w.pw]);
        cpcd(seen, &a, None)
    };

    // Delegate 1 000 CPC to dev-0: shares, and a delegation the query shows.
    let r = run(&mut seen, &["tx", "delegate", "--from", &d, "--validator", &v, "--amount", "1000cpc", "--wait", "--json"]).ok().json();
    assert_eq!(r["receipt"]["status"], "success", "{r}");
    assert_eq!(r["tx"]["tx_type"], "DELEGATE");
    let q = cpcd(&mut seen, &["query", "delegations", &d, "--node", &url, "--json"], None).ok().json();
    let q = q.as_array().unwrap();
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(q[0]["validator"], v.as_str());
    let worth: u128 = q[0]["tokens"].as_str().unwrap().parse().unwrap();
    assert!(worth > 999 * UNITS_PER_CPC && worth <= 1000 * UNITS_PER_CPC, "{q:?}");

    // Rewards accrue block by block and withdraw-rewards pays them into the balance.
    std::thread::sleep(std::time::Duration::from_millis(800));
    let before = query_balance(&mut seen, &url, &addr_of(&k[1]));
    let r = run(&mut seen, &["tx", "withdraw-rewards", "--from", &d, "--validator", &v, "--wait", "--json"]).ok().json();
    assert_eq!(r["receipt"]["status"], "success", "{r}");
    assert_eq!(r["tx"]["amount"], "0", "a DELEGATE of 0");
    let after = query_balance(&mut seen, &url, &addr_of(&k[1]));
    assert!(after + 35_000 * 1000 > before, "rewards were paid: {before} → {after}");

    // Undelegate: an unbonding entry appears; more than the delegation is refused locally.
    run(&mut seen, &["tx", "undelegate", "--from", &d, "--validator", &v, "--amount", "5000cpc"]).fails_with("more than the delegation is worth");
    let r = run(&mut seen, &["tx", "undelegate", "--from", &d, "--validator", &v, "--amount", "400cpc", "--wait", "--json"]).ok().json();
    assert_eq!(r["receipt"]["status"], "success", "{r}");
    let u = cpcd(&mut seen, &["query", "unbonding", &d, "--node", &url, "--json"], None).ok().json();
    assert_eq!(u.as_array().unwrap().len(), 1, "{u}");
    let table = cpcd(&mut seen, &["query", "validators", "--node", &url], None).ok();
    assert!(table.stdout.contains("dev-0"), "{}", table.stdout);
    // A new validator below the chain's minimum self-bond (from cpc_getStakingParams), and
    // UNJAIL for a validator that does not exist, are refused before a fee is spent.
    let p = cpcd(&mut seen, &["query", "balance", &d, "--node", &url, "--json"], None).ok().json();
    run(&mut seen, &["tx", "stake", "--from", &d, "--amount", "9999cpc"]).fails_with("below the chain's minimum self-bond");
    let p2 = cpcd(&mut seen, &["query", "balance", &d, "--node", &url, "--json"], None).ok().json();
    assert_eq!(p, p2, "nothing was sent");
    run(&mut seen, &["tx", "unjail", "--from", &d]).fails_with("operates no validator");
}
