//! `jobhost plugin`: the operator's tools for signed plugins — make a key,
//! sign a component with its manifest, verify and inspect a signed file.
//! The format is described in docs/plugin-format.md.

use super::EXIT_ERROR;
use crate::runtime::MAX_PLUGIN_BYTES;
use crate::trust::{self, KeyId, Manifest, PublicKey, SecretKey, TrustStore};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Make keys, sign, verify and inspect plugin files.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  jobhost plugin keygen --out operator.key
  jobhost plugin sign --key operator.key --manifest echo.toml target/plugins/echo.wasm -o echo.signed.wasm
  jobhost plugin verify --pub operator.key.pub echo.signed.wasm
  jobhost plugin inspect echo.signed.wasm

The format (a standard WebAssembly signature section, a manifest section, the
component preamble pinned) is described in docs/plugin-format.md.")]
pub struct PluginArgs {
    #[command(subcommand)]
    command: PluginCommand,
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    Keygen(KeygenArgs),
    Sign(SignArgs),
    Verify(VerifyArgs),
    Inspect(InspectArgs),
}

/// Generate an operator signing key: KEY (secret, mode 0600) and KEY.pub.
/// Prints the key id. The files use wasmsign2's formats.
#[derive(Debug, Args)]
struct KeygenArgs {
    /// The secret key file to create; the public key goes to KEY.pub.
    /// Existing files are never overwritten.
    #[arg(long, value_name = "KEY")]
    out: PathBuf,
}

/// Sign a component with its manifest: the output is one file, the
/// component with a signature section and a manifest section.
#[derive(Debug, Args)]
struct SignArgs {
    /// The secret key (from `jobhost plugin keygen` or `wasmsign2 keygen`).
    #[arg(long, value_name = "KEY")]
    key: PathBuf,

    /// The manifest (TOML): name, version, operations, capabilities, wit.
    #[arg(long, value_name = "MANIFEST.toml")]
    manifest: PathBuf,

    /// The component to sign (a signed file is re-signed: its old
    /// signature and manifest are replaced).
    #[arg(value_name = "IN.wasm")]
    input: PathBuf,

    /// The signed plugin to write.
    #[arg(short, long, value_name = "OUT.wasm")]
    output: PathBuf,
}

/// Verify a signed plugin as a device would, without running it.
/// Exit 0 and "valid: NAME VERSION signed by KEYID", or exit 1 and the
/// reason.
#[derive(Debug, Args)]
struct VerifyArgs {
    #[command(flatten)]
    trust: TrustArgs,

    /// The signed plugin.
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

/// Print one JSON object describing a plugin file: manifest, sha256 (and
/// content_sha256, of what a signature covers), key id(s), signature
/// status. Without --pub the signature is only read
/// ("signed, not verified"); with --pub it is verified.
#[derive(Debug, Args)]
struct InspectArgs {
    #[command(flatten)]
    trust: TrustArgs,

    /// The plugin file.
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

#[derive(Debug, Args)]
struct TrustArgs {
    /// A trusted public key file (KEY.pub). Repeatable: any one of them may
    /// have signed (key rotation).
    #[arg(long = "pub", value_name = "KEY.pub")]
    public_keys: Vec<PathBuf>,

    /// Refuse signatures by this key id even if its key is trusted.
    /// Repeatable.
    #[arg(long, value_name = "KEYID")]
    revoked: Vec<String>,

    /// Largest file accepted, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = MAX_PLUGIN_BYTES)]
    max_bytes: u64,
}

impl TrustArgs {
    fn store(&self) -> Result<TrustStore> {
        trust_store(&self.public_keys, &self.revoked)
    }
}

/// The keys read from `public_keys` (KEY.pub files), minus the `revoked`
/// ids, as given on a command line.
pub(super) fn trust_store(public_keys: &[PathBuf], revoked: &[String]) -> Result<TrustStore> {
    let keys = public_keys
        .iter()
        .map(|p| PublicKey::read_file(p))
        .collect::<Result<Vec<_>, _>>()?;
    let revoked = revoked
        .iter()
        .map(|s| s.parse::<KeyId>())
        .collect::<Result<Vec<_>, _>>()?;
    Ok(TrustStore::new(keys, revoked))
}

pub fn run(args: PluginArgs) -> Result<ExitCode> {
    match args.command {
        PluginCommand::Keygen(a) => keygen(a),
        PluginCommand::Sign(a) => sign(a),
        PluginCommand::Verify(a) => verify(a),
        PluginCommand::Inspect(a) => inspect(a),
    }
}

fn keygen(args: KeygenArgs) -> Result<ExitCode> {
    let key = SecretKey::generate()?;
    let pub_path = key.write_files(&args.out)?;
    let id = key.public_key().id();
    eprintln!(
        "wrote {} (secret, mode 0600) and {}; keep the secret key off devices",
        args.out.display(),
        pub_path.display()
    );
    println!("{id}");
    Ok(ExitCode::SUCCESS)
}

fn sign(args: SignArgs) -> Result<ExitCode> {
    let key = SecretKey::read_file(&args.key)?;
    let text = fs::read_to_string(&args.manifest)
        .with_context(|| format!("cannot read manifest {}", args.manifest.display()))?;
    let manifest = Manifest::from_toml(&text)
        .with_context(|| format!("invalid manifest {}", args.manifest.display()))?;
    let component =
        fs::read(&args.input).with_context(|| format!("cannot read {}", args.input.display()))?;
    let signed = trust::sign(&component, &manifest, &key)
        .with_context(|| format!("cannot sign {}", args.input.display()))?;
    // What we write must verify; a failure here is a jobhost bug.
    let check = TrustStore::new([key.public_key()], [])
        .verify(signed.clone(), u64::MAX)
        .context("the signed output does not verify")?;
    // A reader never sees half a plugin.
    crate::durable::write_atomically(&args.output, &signed, None)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    println!(
        "signed: {} {} by {} -> {} (sha256 {})",
        manifest.name,
        manifest.version,
        check.key_id(),
        args.output.display(),
        check.digest()
    );
    Ok(ExitCode::SUCCESS)
}

fn verify(args: VerifyArgs) -> Result<ExitCode> {
    if args.trust.public_keys.is_empty() {
        anyhow::bail!("give at least one trusted public key with --pub KEY.pub");
    }
    let store = args.trust.store()?;
    match store.verify_file(&args.file, args.trust.max_bytes) {
        Ok(v) => {
            println!(
                "valid: {} {} signed by {}",
                v.manifest().name,
                v.manifest().version,
                v.key_id()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("invalid: {}: {e}", args.file.display());
            Ok(ExitCode::from(EXIT_ERROR))
        }
    }
}

fn inspect(args: InspectArgs) -> Result<ExitCode> {
    let max = args.trust.max_bytes;
    let bytes = read_limited(&args.file, max)?;
    let size = bytes.len();
    let info = trust::inspect(&bytes)
        .with_context(|| format!("cannot inspect {}", args.file.display()))?;
    let (manifest, manifest_error) = match &info.manifest {
        None => (None, Some("no `jobhost-manifest` section".to_owned())),
        Some(Ok(m)) => (Some(m), None),
        Some(Err(e)) => (None, Some(e.clone())),
    };
    let mut out = json!({
        "file": args.file.display().to_string(),
        "size": size,
        "sha256": info.digest,
        "preamble": info.preamble,
        "manifest": manifest,
        "key_ids": info.key_ids,
    });
    // What the signature covers: the same for every signature of the same
    // code and manifest, where `sha256` changes with each signing.
    if let Some(content) = &info.content_digest {
        out["content_sha256"] = content.as_str().into();
    }
    if let Some(e) = manifest_error {
        out["manifest_error"] = e.into();
    }
    let mut valid = true;
    let status = if !args.trust.public_keys.is_empty() {
        // Verification asked for: exactly what a device would decide.
        match args.trust.store()?.verify(bytes, max) {
            Ok(v) => {
                out["signed_by"] = v.key_id().to_string().into();
                "valid"
            }
            Err(e) => {
                valid = false;
                out["reason"] = e.to_string().into();
                "invalid"
            }
        }
    } else if !info.signed {
        "unsigned"
    } else if let Some(e) = &info.signature_error {
        out["reason"] = format!("malformed signature section: {e}").into();
        "invalid"
    } else {
        "signed, not verified"
    };
    out["signature"] = status.into();
    println!("{out}");
    // Only a verification the caller asked for can fail the command.
    Ok(if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_ERROR)
    })
}

fn read_limited(path: &Path, max: u64) -> Result<Vec<u8>> {
    let size = fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    if size > max {
        anyhow::bail!(
            "{} is {size} bytes, over the {max}-byte limit (--max-bytes)",
            path.display()
        );
    }
    fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}
