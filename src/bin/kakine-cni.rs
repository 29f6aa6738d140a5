//! kakine-cni: the CNI plugin (docs/cni.md). A container runtime runs it with the `CNI_*`
//! environment and the network configuration on stdin; it prints the result, or the error
//! object with the spec's code and exits 1.

use std::io::Read as _;

use kakine::cni::{CniError, ErrorCode};

fn main() {
    let mut stdin = Vec::new();
    let outcome = std::io::stdin()
        .take(kakine::cni::protocol::MAX_MESSAGE_BYTES * 16)
        .read_to_end(&mut stdin)
        .map_err(|e| CniError::new(ErrorCode::IoFailure, format!("reading stdin: {e}")))
        .and_then(|_| kakine::cni::run(|k| std::env::var(k).ok(), &stdin));
    match outcome {
        Ok(Some(json)) => println!("{json}"),
        Ok(None) => {}
        Err(e) => {
            println!("{}", e.to_json());
            std::process::exit(1);
        }
    }
}
