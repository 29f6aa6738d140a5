//! Argument blocks shared by several commands: where a node's Open vSwitch and agent keep
//! their sockets and state.

use std::path::PathBuf;

/// The agent's state directory.
#[derive(clap::Args, Debug, Clone)]
pub struct StateDirArgs {
    /// The agent's state directory (`agent.json`, `last-good.yaml`, `refused.json`).
    #[arg(
        long,
        env = "KAKINE_STATE_DIR",
        default_value = "/var/lib/kakine",
        value_name = "DIR"
    )]
    pub state_dir: PathBuf,
}

/// The node's Open vSwitch: its run directory and the agent's bridge.
#[derive(clap::Args, Debug, Clone)]
pub struct OvsArgs {
    /// Open vSwitch run directory (the bridge's `<bridge>.mgmt` socket and ovs-vswitchd's
    /// control socket are here); as for `ovs-ofctl`, `OVS_RUNDIR` sets it.
    #[arg(
        long,
        env = "OVS_RUNDIR",
        default_value = "/var/run/openvswitch",
        value_name = "DIR"
    )]
    pub ovs_rundir: PathBuf,
    /// Bridge name.
    #[arg(long, default_value = "br-int")]
    pub bridge: String,
}
