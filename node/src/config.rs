//! `--config cpcd.toml`: every run flag can be set in a TOML file; flags on the command line
//! win. Keys are the flag names: `http.port = 8545` or, equivalently, `[http]` / `port = 8545`.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Name of the settings file looked up in the data directory.
pub const CONFIG_FILE: &str = "cpcd.toml";

fn flatten(prefix: &str, v: &toml::Value, out: &mut Vec<(String, toml::Value)>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&key, v, out);
            }
        }
        other => out.push((prefix.to_string(), other.clone())),
    }
}

/// Reads a settings file into `(flag name, value)` pairs.
pub fn read_settings(path: &Path) -> Result<Vec<(String, toml::Value)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_settings(&text).with_context(|| format!("parsing {}", path.display()))
}

/// A settings file's text as `(flag name, value)` pairs (untrusted: fuzzed, `fuzz/` target
/// `config`).
pub fn parse_settings(text: &str) -> Result<Vec<(String, toml::Value)>> {
    let v: toml::Value = toml::from_str(text)?;
    let mut out = Vec::new();
    flatten("", &v, &mut out);
    Ok(out)
}

fn flag_value<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let long = format!("--{name}");
    let eq = format!("--{name}=");
    args.iter().enumerate().find_map(|(i, a)| {
        if a == &long {
            args.get(i + 1).map(|s| s.as_str())
        } else {
            a.strip_prefix(&eq)
        }
    })
}

fn has_flag(args: &[String], name: &str) -> bool {
    let long = format!("--{name}");
    let eq = format!("--{name}=");
    args.iter().any(|a| a == &long || a.starts_with(&eq))
}

/// Inserts the settings of the config file (explicit `--config`, or `<datadir>/cpcd.toml`)
/// into the run command's arguments, except those given on the command line. `known` lists
/// the flag names the run command accepts; an unknown setting is an error naming it.
pub fn merge_config_args(args: Vec<String>, known: &[String]) -> Result<Vec<String>> {
    // Only the run command (no subcommand) takes settings.
    if args.get(1).is_some_and(|a| !a.starts_with('-')) {
        return Ok(args);
    }
    let path: Option<PathBuf> = match flag_value(&args, "config") {
        Some(p) => Some(PathBuf::from(p)),
        None => flag_value(&args, "datadir").map(|d| Path::new(d).join(CONFIG_FILE)).filter(|p| p.exists()),
    };
    let Some(path) = path else { return Ok(args) };
    let settings = read_settings(&path)?;
    merge_settings(args, known, settings, &path)
}

/// Puts `settings` (read from the file at `path`) into `args`, except those given on the
/// command line; the rules of [`merge_config_args`].
pub fn merge_settings(
    args: Vec<String>,
    known: &[String],
    settings: Vec<(String, toml::Value)>,
    path: &Path,
) -> Result<Vec<String>> {
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut extra = Vec::new();
    for (key, value) in settings {
        if !known.contains(&key) || key == "config" {
            bail!("{}: unknown setting {key:?}", path.display());
        }
        if has_flag(&args, &key) {
            continue; // the command line wins
        }
        let text = match &value {
            toml::Value::Boolean(true) => {
                extra.push(format!("--{key}"));
                continue;
            }
            toml::Value::Boolean(false) => continue,
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().map(str::to_string).unwrap_or_else(|| i.to_string()))
                .collect::<Vec<_>>()
                .join(","),
            other => bail!("{}: setting {key:?} has an unsupported value {other}", path.display()),
        };
        // Relative paths in a config file are relative to the file.
        let text = if matches!(key.as_str(), "datadir" | "keystore" | "password-file") && Path::new(&text).is_relative() {
            base.join(&text).display().to_string()
        } else {
            text
        };
        extra.push(format!("--{key}"));
        extra.push(text);
    }
    let mut out: Vec<String> = args.first().cloned().into_iter().collect();
    out.extend(extra);
    out.extend(args.into_iter().skip(1));
    Ok(out)
}

/// The effective settings of the run command as TOML (`cpcd --dump-config`): every flag with
/// its value from the command line, the config file, or its default.
pub fn dump(cmd: &clap::Command, matches: &clap::ArgMatches) -> String {
    let mut out = String::from("# cpcd effective settings (cpcd --dump-config)\n");
    for arg in cmd.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if matches!(long, "dump-config" | "config" | "help" | "version") {
            continue;
        }
        let id = arg.get_id().as_str();
        let values: Vec<String> = matches
            .get_raw(id)
            .map(|v| v.map(|s| s.to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        let takes_value = arg.get_action().takes_values();
        let line = if !takes_value {
            format!("{} = {}", quote_key(long), matches.get_flag(id))
        } else if values.is_empty() {
            format!("# {} (not set)", quote_key(long))
        } else if arg.get_value_delimiter().is_some() {
            let items: Vec<String> = values.iter().map(|v| toml_value(v, true)).collect();
            format!("{} = [{}]", quote_key(long), items.join(", "))
        } else {
            format!("{} = {}", quote_key(long), toml_value(&values[0], false))
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn quote_key(k: &str) -> String {
    if k.contains('.') { format!("\"{k}\"") } else { k.to_string() }
}

fn toml_value(v: &str, force_string: bool) -> String {
    if !force_string && v.parse::<i64>().is_ok() {
        v.to_string()
    } else {
        toml::Value::String(v.to_string()).to_string()
    }
}

/// The P2P port set in `<datadir>/cpcd.toml`, if any (for `cpcd node-id`).
pub fn configured_p2p_port(datadir: &Path) -> Result<Option<u16>> {
    let path = datadir.join(CONFIG_FILE);
    if !path.exists() {
        return Ok(None);
    }
    for (k, v) in read_settings(&path)? {
        if k == "p2p.port" {
            let p = v.as_integer().context("p2p.port must be an integer")?;
            return Ok(Some(u16::try_from(p).context("p2p.port out of range")?));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Vec<String> {
        ["dev", "datadir", "http.port", "bootnodes", "mine", "password-file", "config"].iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn settings_fill_in_and_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("c.toml");
        std::fs::write(&cfg, "dev = true\nmine = false\nbootnodes = [\"/a\", \"/b\"]\npassword-file = \"pw\"\n[http]\nport = 9000\n").unwrap();
        let args: Vec<String> = ["cpcd", "--config", cfg.to_str().unwrap(), "--http.port", "1"].iter().map(|s| s.to_string()).collect();
        let out = merge_config_args(args, &known()).unwrap();
        assert!(out.contains(&"--dev".to_string()));
        assert!(!out.contains(&"--mine".to_string()));
        let pos = out.iter().position(|a| a == "--bootnodes").unwrap();
        assert_eq!(out[pos + 1], "/a,/b");
        assert_eq!(out.iter().filter(|a| *a == "--http.port").count(), 1, "the flag wins: {out:?}");
        let pw = out.iter().position(|a| a == "--password-file").unwrap();
        assert_eq!(out[pw + 1], dir.path().join("pw").display().to_string());
    }

    #[test]
    fn unknown_settings_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("c.toml");
        std::fs::write(&cfg, "htp.port = 1\n").unwrap();
        let args: Vec<String> = ["cpcd", "--config", cfg.to_str().unwrap()].iter().map(|s| s.to_string()).collect();
        let e = merge_config_args(args, &known()).unwrap_err().to_string();
        assert!(e.contains("unknown setting \"htp.port\""), "{e}");
    }

    #[test]
    fn datadir_config_is_found_and_subcommands_untouched() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), "dev = true\n").unwrap();
        let args: Vec<String> = ["cpcd", "--datadir", dir.path().to_str().unwrap()].iter().map(|s| s.to_string()).collect();
        assert!(merge_config_args(args, &known()).unwrap().contains(&"--dev".to_string()));
        let sub: Vec<String> = ["cpcd", "init", "--datadir", "x"].iter().map(|s| s.to_string()).collect();
        assert_eq!(merge_config_args(sub.clone(), &known()).unwrap(), sub);
    }
}
