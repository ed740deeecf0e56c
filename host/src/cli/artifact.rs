//! `jobhost artifact`: the operator's tools for code-signed artifacts, the
//! files jobs download — sign one with a plugin key (a detached `FILE.sig`,
//! the `codesign` object devices get), and verify one as a device would.
//! The format is described in docs/plugin-format.md, "Artifact signatures".

use super::EXIT_ERROR;
use crate::config::Config;
use crate::trust::artifact::{sign_artifact, Codesign};
use crate::trust::{SecretKey, TrustStore};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Sign and verify the files jobs download (artifact signatures).
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  jobhost plugin keygen --out operator.key          # once; the same keys as plugins
  jobhost artifact sign --key operator.key fw-1.2.bin          # writes fw-1.2.bin.sig
  jobhost artifact verify --key operator.key.pub fw-1.2.bin
  jobhost artifact verify --config /etc/jobhost/jobhost.toml --signature fw.sig fw-1.2.bin
  jobhost-fleet artifact put --signature fw-1.2.bin.sig fw-1.2.bin

A job document carries the signature as a `codesign` object beside the file's
`url`; `${aws:iot:code-sign-signature:<artifact url>}` there becomes that object
when jobhost-fleet creates the job. The device verifies it with its [trust] keys
before the file is moved into place. See docs/plugin-format.md.")]
pub struct ArtifactArgs {
    #[command(subcommand)]
    command: ArtifactCommand,
}

#[derive(Debug, Subcommand)]
enum ArtifactCommand {
    Sign(SignArgs),
    Verify(VerifyArgs),
}

/// Sign FILE: write its detached signature (the `codesign` object, JSON),
/// an Ed25519 signature over its name, size and sha256.
#[derive(Debug, Args)]
struct SignArgs {
    /// The secret key (from `jobhost plugin keygen`, as for plugins).
    #[arg(long, value_name = "KEY")]
    key: PathBuf,

    /// The name the file is signed under [default: FILE's base name]: at
    /// most 255 bytes, no `/`, no control characters.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,

    /// The file to sign.
    #[arg(value_name = "FILE")]
    file: PathBuf,

    /// Where to write the signature [default: FILE.sig]; replaced if it
    /// exists.
    #[arg(short, long, value_name = "SIG")]
    output: Option<PathBuf>,
}

/// Verify FILE against its signature as a device would: a trusted key, not
/// revoked, and FILE's size and sha256 those the signature is for. Exit 0
/// and "valid: …", or exit 1 and the reason.
#[derive(Debug, Args)]
struct VerifyArgs {
    /// Trust the keys (and revocations) of this agent config's [trust].
    #[arg(long, value_name = "CONFIG", conflicts_with_all = ["keys", "revoked"])]
    config: Option<PathBuf>,

    /// A trusted public key file (KEY.pub). Repeatable.
    #[arg(long = "key", visible_alias = "pub", value_name = "PUB")]
    keys: Vec<PathBuf>,

    /// Refuse signatures by this key id even if its key is trusted.
    /// Repeatable.
    #[arg(long, value_name = "KEYID")]
    revoked: Vec<String>,

    /// The signature [default: FILE.sig].
    #[arg(long, value_name = "SIG")]
    signature: Option<PathBuf>,

    /// The file.
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

pub fn run(args: ArtifactArgs) -> Result<ExitCode> {
    match args.command {
        ArtifactCommand::Sign(a) => sign(a),
        ArtifactCommand::Verify(a) => verify(a),
    }
}

fn sign(args: SignArgs) -> Result<ExitCode> {
    let key = SecretKey::read_file(&args.key)?;
    let name = match &args.name {
        Some(name) => name.clone(),
        None => base_name(&args.file)?,
    };
    let (size, sha256) = digest_file(&args.file)?;
    let codesign = sign_artifact(&key, &name, size, sha256)
        .with_context(|| format!("cannot sign {}", args.file.display()))?;
    // What we write must verify; a failure here is a jobhost bug.
    TrustStore::new([key.public_key()], [])
        .verify_artifact(&codesign, size, &sha256)
        .context("the signature made does not verify")?;
    let output = args.output.unwrap_or_else(|| sig_path(&args.file));
    crate::durable::write_atomically(&output, codesign.to_file_text().as_bytes(), None)
        .with_context(|| format!("cannot write {}", output.display()))?;
    println!(
        "signed: {name} ({size} bytes, sha256 {}) by {} -> {}",
        codesign.sha256_hex(),
        key.public_key().id(),
        output.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn verify(args: VerifyArgs) -> Result<ExitCode> {
    let store = match &args.config {
        Some(path) => Config::load(path)?.trust.store,
        None if args.keys.is_empty() => anyhow::bail!(
            "give the trusted keys: --key KEY.pub (repeatable), or --config with the agent's config"
        ),
        None => super::plugin::trust_store(&args.keys, &args.revoked)?,
    };
    let sig = args.signature.unwrap_or_else(|| sig_path(&args.file));
    let text = fs::read(&sig).with_context(|| format!("cannot read {}", sig.display()))?;
    let invalid = |why: String| {
        eprintln!("invalid: {}: {why}", args.file.display());
        Ok(ExitCode::from(EXIT_ERROR))
    };
    let codesign = match Codesign::from_slice(&text) {
        Ok(c) => c,
        Err(e) => return invalid(format!("{}: {e}", sig.display())),
    };
    let (size, sha256) = digest_file(&args.file)?;
    match store.verify_artifact(&codesign, size, &sha256) {
        Ok(key_id) => {
            if base_name(&args.file).ok().as_deref() != Some(codesign.file_name.as_str()) {
                // The name is what the operator signed; a device installs
                // under whatever name its job says, so this is not a refusal.
                eprintln!(
                    "note: signed under the name {:?}, not this file's name",
                    codesign.file_name
                );
            }
            println!(
                "valid: {} ({size} bytes, sha256 {}) signed by {key_id}",
                codesign.file_name,
                codesign.sha256_hex()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => invalid(e.to_string()),
    }
}

/// `FILE` → `FILE.sig` (appended, not replacing an extension).
fn sig_path(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(".sig");
    PathBuf::from(s)
}

fn base_name(file: &Path) -> Result<String> {
    file.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_owned)
        .with_context(|| format!("{} has no usable file name: give --name", file.display()))
}

/// The size and sha256 of `path`, read once in 64 KiB pieces.
fn digest_file(path: &Path) -> Result<(u64, [u8; 32])> {
    let mut file =
        fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    let mut size = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hasher.finalize().into()))
}
