//! The cloud side's test tools, installed by `scripts/cloud-tools.sh` into `.tools/` of the
//! checkout (`scripts/test.sh` runs it): the linters of the deployment files (cfn-lint,
//! asl-validator, hadolint) and moto, a local S3 and Step Functions that `splat submit` is
//! tested against. A test that needs one and cannot find it fails saying how to install it.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A tool by name: `.tools/cloud/bin/NAME` (the Python virtual environment),
/// `.tools/asl/node_modules/.bin/NAME`, or the `PATH`.
pub fn tool(name: &str) -> PathBuf {
    let root = repo_root();
    for dir in [".tools/cloud/bin", ".tools/asl/node_modules/.bin"] {
        let p = root.join(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    on_path.unwrap_or_else(|| {
        panic!(
            "{name} not found in .tools/ or on PATH: run `bash scripts/cloud-tools.sh` (installs \
             cfn-lint, moto and hadolint into .tools/cloud and asl-validator into .tools/asl)"
        )
    })
}

/// Runs `tool ARGS…` and returns whether it succeeded and what it printed.
pub fn run_tool(name: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(tool(name))
        .args(args)
        .current_dir(repo_root())
        .output()
        .unwrap_or_else(|e| panic!("running {name}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A moto server on 127.0.0.1 (S3, Step Functions, CloudFormation, … in one process), stopped
/// when dropped. Its state machines really run (`execute_state_machine`), so an execution
/// moves through its states and ends.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    pub fn start() -> Moto {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let child = Command::new(tool("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting moto_server");
        let endpoint = format!("http://127.0.0.1:{port}");
        let mut moto = Moto { child, endpoint };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if moto.post_json(
                "/moto-api/config",
                r#"{"stepfunctions": {"execute_state_machine": true}}"#,
            ) {
                return moto;
            }
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto_server exited at start: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer within 60 s"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The environment a client of this server needs (endpoint, region, test credentials).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_DEFAULT_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_CONFIG_FILE", "/dev/null".into()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }

    /// Runs a Python script with boto3 (moto's environment has it) against this server: an
    /// independent AWS client to set up and inspect what `splat submit` did. `s3`, `sfn` and
    /// `cfn` are ready; `ARGS` holds `args`; what the script prints is returned.
    pub fn boto3(&self, script: &str, args: &[&str]) -> String {
        let prelude = format!(
            "import boto3, json, sys, time\nARGS = sys.argv[1:]\nkw = dict(endpoint_url={:?}, region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing')\ns3 = boto3.client('s3', **kw)\nsfn = boto3.client('stepfunctions', **kw)\ncfn = boto3.client('cloudformation', **kw)\n",
            self.endpoint
        );
        let out = Command::new(tool("python3"))
            .arg("-c")
            .arg(format!("{prelude}{script}"))
            .args(args)
            .output()
            .expect("running python3");
        assert!(
            out.status.success(),
            "boto3 script failed:\n{script}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A plain HTTP POST of a JSON body to moto's own API; whether it answered with success.
    fn post_json(&self, path: &str, body: &str) -> bool {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(self.endpoint.trim_start_matches("http://"))
        else {
            return false;
        };
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let mut reply = String::new();
        s.write_all(request.as_bytes()).is_ok()
            && s.read_to_string(&mut reply).is_ok()
            && reply.starts_with("HTTP/1.")
            && reply.get(9..10) == Some("2")
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
