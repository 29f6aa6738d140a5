//! `other_config:flow-restore-wait` of the `Open_vSwitch` table (ovs-vswitchd.conf.db(5)):
//! while it is `true`, a starting ovs-vswitchd neither processes packets with an empty flow
//! table nor flushes the kernel datapath's flows; once removed, it revalidates against the
//! OpenFlow flows then installed. The DaemonSet's ovs container sets it when it restarts on a
//! node whose OVSDB already holds the bridge (images/scripts/start-ovs); the agent removes it
//! after it has committed a realization, so a restart of Open vSwitch keeps forwarding on the
//! old flows until the agent's are back (Antrea's agent does the same:
//! pkg/agent/agent.go, `FlowRestoreComplete`).

use std::sync::Arc;
use std::time::Duration;

use ovsdb::vswitch::DB;
use ovsdb::{Client, Mutation, Transaction, Value};
use tokio::sync::watch;

use crate::agent::live::{Kind, Realization};

/// The `other_config` key.
pub const FLOW_RESTORE_WAIT: &str = "flow-restore-wait";

/// Whether `Open_vSwitch` `other_config:flow-restore-wait` is `true`.
///
/// # Errors
/// Transport or transaction errors of `db`.
pub async fn is_waiting(db: &Client) -> Result<bool, ovsdb::Error> {
    let r = db
        .transact(
            DB,
            Transaction::new()
                .select(DB, [], Some(&["other_config"]))
                .build(),
        )
        .await?;
    let waiting = r.first().and_then(|r| r.rows().first().cloned()).is_some_and(|row| {
        matches!(row.get("other_config"), Some(Value::Map(m))
            if m.iter().any(|(k, v)| k.as_str() == Some(FLOW_RESTORE_WAIT) && v.as_str() == Some("true")))
    });
    Ok(waiting)
}

/// Removes `other_config:flow-restore-wait` when it is set; returns whether it was.
///
/// # Errors
/// Transport or transaction errors of `db`.
pub async fn clear(db: &Client) -> Result<bool, ovsdb::Error> {
    if !is_waiting(db).await? {
        return Ok(false);
    }
    let ops = Transaction::new()
        .mutate(
            DB,
            [],
            [Mutation::delete(
                "other_config",
                Value::set([FLOW_RESTORE_WAIT]),
            )],
        )
        .build();
    db.transact(DB, ops).await?;
    Ok(true)
}

/// Runs for the agent's lifetime: after every committed realization of `realizations`
/// ([`crate::agent::live::Live::subscribe`]) that installed the whole pipeline (the first of
/// the run, the reinstall after ovs-vswitchd came back, a repair; not an incremental update,
/// which may land on a restarted, empty ovs-vswitchd before its reinstall), removes
/// flow-restore-wait from the OVSDB at `ovsdb` (`unix:PATH` or `tcp:HOST:PORT`) if it is set.
/// Errors are logged and retried after 5 s.
pub async fn clear_after_realizations(
    ovsdb: String,
    mut realizations: watch::Receiver<Option<Arc<Realization>>>,
) {
    let mut db: Option<Client> = None;
    loop {
        let committed = realizations
            .borrow_and_update()
            .as_ref()
            .is_some_and(|r| matches!(r.kind, Kind::Restart | Kind::Reconnect | Kind::Repair));
        if committed {
            if db.as_ref().is_none_or(|c| !c.is_connected()) {
                db = Client::connect(&ovsdb).await.ok();
            }
            let r = match &db {
                Some(c) => clear(c).await,
                None => Err(ovsdb::Error::NotFound {
                    table: "Open_vSwitch",
                    name: format!("(no connection to {ovsdb})"),
                }),
            };
            match r {
                Ok(true) => tracing::info!("flows installed: {FLOW_RESTORE_WAIT} removed"),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!("removing {FLOW_RESTORE_WAIT} from {ovsdb}: {e}; retrying");
                    db = None;
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    continue;
                }
            }
        }
        if realizations.changed().await.is_err() {
            return;
        }
    }
}
