//! Typed helpers for the `Open_vSwitch` database (schema 8.x), the API the agent uses.
//!
//! Each helper is one or two idempotent transactions built as data, following the schema ties of
//! protocols.md §4.5: a Port is inserted with its Interface in the same transaction; rows are
//! removed by mutating the parent's set and left to garbage collection; sets are changed with
//! `mutate … insert/delete` instead of read-modify-write. Changes bump `Open_vSwitch.next_cfg`
//! and wait for ovs-vswitchd to report it in `cur_cfg`, as `ovs-vsctl` without `--no-wait` does.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::notation::{Atom, Row, Uuid, Value};
use crate::operation::{Condition, Mutation, Mutator, OpResult, Transaction, WaitUntil};
use crate::{Client, Error};

/// The database the helpers use.
pub const DB: &str = "Open_vSwitch";

/// The longest one blocking `wait` lasts before the helper reads again (a lost update cannot
/// stall it longer).
const WAIT_SLICE: Duration = Duration::from_millis(500);

/// Milliseconds for a `wait` operation: the time left to `deadline`, at most [`WAIT_SLICE`].
fn wait_slice(deadline: Instant) -> u64 {
    let left = deadline.saturating_duration_since(Instant::now());
    left.min(WAIT_SLICE).as_millis() as u64
}

/// Desired state of a bridge (`ovs-vsctl add-br` plus `set Bridge`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BridgeConfig {
    /// `Bridge.name` (also the name of its internal port and interface).
    pub name: String,
    /// `"netdev"` (userspace), `"system"` (kernel) or `""` (default).
    pub datapath_type: String,
    /// OpenFlow versions, e.g. `["OpenFlow13"]`.
    pub protocols: Vec<String>,
    /// `Some("secure")` / `Some("standalone")`, `None` clears it.
    pub fail_mode: Option<String>,
    /// `Bridge.external_ids`; these keys are set, other keys are left alone.
    pub external_ids: BTreeMap<String, String>,
}

/// What [`Client::ensure_port_with`] sets on a port's interface beyond its name
/// (`ovs-vsctl set Interface NAME type=… options:…=… mac=… mtu_request=…`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterfaceSpec {
    /// `Interface.type`: `""` (a system device), `"internal"`, `"geneve"`, ...
    pub iface_type: String,
    /// `Interface.options`, e.g. `remote_ip=flow`, `key=flow` for a flow-based tunnel.
    pub options: BTreeMap<String, String>,
    /// `Interface.mac`: the MAC of an internal interface (`aa:bb:cc:dd:ee:ff`).
    pub mac: Option<String>,
    /// `Interface.mtu_request`, bytes.
    pub mtu_request: Option<i64>,
}

impl InterfaceSpec {
    fn columns(&self) -> Vec<(&'static str, Value)> {
        let mut c = vec![
            ("type", Value::from(self.iface_type.as_str())),
            ("options", string_map(&self.options)),
        ];
        if let Some(mac) = &self.mac {
            c.push(("mac", Value::from(mac.as_str())));
        }
        if let Some(mtu) = self.mtu_request {
            c.push(("mtu_request", Value::from(mtu)));
        }
        c
    }
}

/// One port of a bridge as [`Client::list_ports`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortInfo {
    /// `Port.name` (= its interface's name).
    pub name: String,
    /// `Port._uuid`.
    pub uuid: Uuid,
    /// The interface's OpenFlow port number; `None` if not assigned yet or failed (`-1`).
    pub ofport: Option<u32>,
    /// The interface's `error` column.
    pub error: Option<String>,
    /// The interface's `external_ids`.
    pub external_ids: BTreeMap<String, String>,
}

fn string_map(m: &BTreeMap<String, String>) -> Value {
    Value::map(m.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

fn by_name(name: &str) -> [Condition; 1] {
    [Condition::eq("name", name)]
}

fn uuid_of(row: &Row) -> Option<Uuid> {
    row.get("_uuid").and_then(Value::as_uuid).cloned()
}

impl Client {
    /// Runs `txn` plus `next_cfg += 1`, then waits until ovs-vswitchd's `cur_cfg` reaches it.
    /// Returns the results of `txn`'s own operations.
    async fn transact_and_wait(
        &self,
        txn: Transaction,
        what: &str,
    ) -> Result<Vec<OpResult>, Error> {
        let mut ops = txn
            .mutate(DB, [], [Mutation::new("next_cfg", Mutator::Add, 1)])
            .select(DB, [], Some(&["next_cfg"]))
            .build();
        let n = ops.len();
        ops.push(crate::Operation::Comment(format!("kakine: {what}")));
        let mut results = self.transact(DB, ops).await?;
        results.truncate(n);
        let next_cfg = results
            .pop()
            .and_then(|r| {
                r.rows()
                    .first()
                    .and_then(|row| row.get("next_cfg")?.as_i64())
            })
            .ok_or(Error::NotFound {
                table: "Open_vSwitch",
                name: "(root row)".into(),
            })?;
        results.pop(); // the next_cfg mutation
        self.wait_cur_cfg(next_cfg, what).await?;
        Ok(results)
    }

    async fn wait_cur_cfg(&self, next_cfg: i64, what: &str) -> Result<(), Error> {
        let deadline = Instant::now() + self.wait_timeout;
        let select = || Transaction::new().select(DB, [], Some(&["cur_cfg"]));
        let mut r = self.transact(DB, select().build()).await?;
        loop {
            let cur = r
                .pop()
                .and_then(|r| r.rows().first()?.get("cur_cfg")?.as_i64());
            if cur.is_some_and(|c| c >= next_cfg) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!(
                        "ovs-vswitchd to apply next_cfg {next_cfg} ({what}); cur_cfg is {cur:?}"
                    ),
                    after: self.wait_timeout,
                });
            }
            // Blocks in ovsdb-server until cur_cfg moves on (RFC 7047 §5.2.6 `wait`), then
            // reads it: no polling interval between ovs-vswitchd's commit and ours.
            let seen = Value::Atom(Atom::from(cur.unwrap_or_default()));
            let txn = Transaction::new()
                .wait(
                    DB,
                    [],
                    &["cur_cfg"],
                    WaitUntil::Ne,
                    vec![[("cur_cfg".to_owned(), seen)].into()],
                    Some(wait_slice(deadline)),
                )
                .select(DB, [], Some(&["cur_cfg"]));
            r = match self.transact(DB, txn.build()).await {
                Ok(r) => r,
                // The wait timed out: read again and look at the deadline.
                Err(Error::Transaction { .. }) => self.transact(DB, select().build()).await?,
                Err(e) => return Err(e),
            };
        }
    }

    async fn select_rows(
        &self,
        table: &str,
        cond: [Condition; 1],
        columns: &[&str],
    ) -> Result<Vec<Row>, Error> {
        let mut r = self
            .transact(
                DB,
                Transaction::new()
                    .select(table, cond, Some(columns))
                    .build(),
            )
            .await?;
        Ok(match r.pop() {
            Some(OpResult::Rows(rows)) => rows,
            _ => Vec::new(),
        })
    }

    /// The `datapath_type` of bridge `name` (`""` means the default, `system`); `None` when the
    /// bridge does not exist.
    ///
    /// # Errors
    /// Transport or transaction errors.
    pub async fn bridge_datapath_type(&self, name: &str) -> Result<Option<String>, Error> {
        let rows = self
            .select_rows("Bridge", by_name(name), &["datapath_type"])
            .await?;
        Ok(rows.first().map(|r| {
            r.get("datapath_type")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        }))
    }

    /// Creates the bridge if missing (with its internal port and interface), else updates
    /// `datapath_type`, `protocols`, `fail_mode` and the given `external_ids` keys. Idempotent.
    /// Like `ovs-vsctl --may-exist add-br NAME -- set Bridge NAME …`: waits for ovs-vswitchd to
    /// apply it (`cur_cfg`), up to the client's wait timeout. Returns `Bridge._uuid`.
    ///
    /// # Errors
    /// [`Error::Transaction`] (e.g. `constraint violation` for a bad `fail_mode`),
    /// [`Error::Timeout`] if ovs-vswitchd does not catch up, transport errors.
    pub async fn ensure_bridge(&self, cfg: &BridgeConfig) -> Result<Uuid, Error> {
        let protocols = Value::set(cfg.protocols.iter().map(String::as_str));
        let fail_mode = cfg
            .fail_mode
            .as_deref()
            .map_or_else(Value::empty_set, Value::from);
        let existing = self
            .select_rows("Bridge", by_name(&cfg.name), &["_uuid"])
            .await?;
        if let Some(uuid) = existing.first().and_then(uuid_of) {
            let keys = Value::set(cfg.external_ids.keys().map(String::as_str));
            let txn = Transaction::new()
                .update(
                    "Bridge",
                    [Condition::uuid(&uuid)],
                    [
                        ("datapath_type", cfg.datapath_type.as_str().into()),
                        ("protocols", protocols),
                        ("fail_mode", fail_mode),
                    ],
                )
                .mutate(
                    "Bridge",
                    [Condition::uuid(&uuid)],
                    [
                        Mutation::delete("external_ids", keys),
                        Mutation::insert("external_ids", string_map(&cfg.external_ids)),
                    ],
                );
            let r = self
                .transact_and_wait(txn, &format!("update bridge {}", cfg.name))
                .await?;
            if r[0].count() == Some(0) {
                return Err(Error::NotFound {
                    table: "Bridge",
                    name: cfg.name.clone(),
                });
            }
            return Ok(uuid);
        }
        let txn = Transaction::new()
            .insert_named(
                "Interface",
                [
                    ("name", cfg.name.as_str().into()),
                    ("type", "internal".into()),
                ],
                "iface",
            )
            .insert_named(
                "Port",
                [
                    ("name", cfg.name.as_str().into()),
                    ("interfaces", Value::named_uuid("iface")),
                ],
                "port",
            )
            .insert_named(
                "Bridge",
                [
                    ("name", cfg.name.as_str().into()),
                    ("ports", Value::named_uuid("port")),
                    ("datapath_type", cfg.datapath_type.as_str().into()),
                    ("protocols", protocols),
                    ("fail_mode", fail_mode),
                    ("external_ids", string_map(&cfg.external_ids)),
                ],
                "bridge",
            )
            .mutate(
                DB,
                [],
                [Mutation::insert("bridges", Value::named_uuid("bridge"))],
            );
        let r = self
            .transact_and_wait(txn, &format!("add bridge {}", cfg.name))
            .await?;
        r[2].uuid().cloned().ok_or_else(|| Error::Notation {
            reason: "insert Bridge returned no uuid".into(),
            value: serde_json::Value::Null,
        })
    }

    /// Deletes a bridge with its ports and interfaces (`ovs-vsctl --if-exists del-br`):
    /// removes it from `Open_vSwitch.bridges` and lets garbage collection do the rest. Idempotent.
    ///
    /// # Errors
    /// [`Error::Timeout`] if ovs-vswitchd does not catch up, transport errors.
    pub async fn delete_bridge(&self, name: &str) -> Result<(), Error> {
        let rows = self
            .select_rows("Bridge", by_name(name), &["_uuid"])
            .await?;
        let Some(uuid) = rows.first().and_then(uuid_of) else {
            return Ok(());
        };
        let txn =
            Transaction::new().mutate(DB, [], [Mutation::delete("bridges", Value::set([uuid]))]);
        self.transact_and_wait(txn, &format!("delete bridge {name}"))
            .await?;
        Ok(())
    }

    /// Names flow tables: sets `Bridge.flow_tables` to `{table_id → Flow_Table{name}}`,
    /// replacing previous names (old Flow_Table rows are garbage-collected). Like
    /// `ovs-vsctl -- --id=@t create Flow_Table name=N -- set Bridge BR flow_tables:ID=@t`.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the bridge does not exist, [`Error::Transaction`] (e.g. a table id
    /// above 254), transport errors.
    pub async fn set_flow_table_names(
        &self,
        bridge: &str,
        names: &[(u8, String)],
    ) -> Result<(), Error> {
        let mut txn = Transaction::new();
        let mut map = Vec::new();
        for (i, (id, name)) in names.iter().enumerate() {
            let uuid_name = format!("table{i}");
            txn = txn.insert_named("Flow_Table", [("name", name.as_str().into())], &uuid_name);
            map.push((Atom::Integer(i64::from(*id)), Atom::NamedUuid(uuid_name)));
        }
        txn = txn.update(
            "Bridge",
            by_name(bridge),
            [("flow_tables", Value::Map(map))],
        );
        let r = self
            .transact_and_wait(txn, &format!("name flow tables of {bridge}"))
            .await?;
        if r.last().and_then(OpResult::count) == Some(0) {
            return Err(Error::NotFound {
                table: "Bridge",
                name: bridge.into(),
            });
        }
        Ok(())
    }

    /// Adds a port with one system interface of the same name to `bridge`, or, if the port is
    /// already there, sets its `external_ids` (on Interface and Port). Idempotent; like
    /// `ovs-vsctl --may-exist add-port BR NAME -- set Interface NAME external_ids=…`.
    /// Waits for ovs-vswitchd and returns the interface's `ofport`.
    ///
    /// # Errors
    /// - [`Error::NotFound`] if the bridge does not exist;
    /// - [`Error::WrongBridge`] if a port of that name is on another bridge;
    /// - [`Error::Interface`] if ovs-vswitchd reports `ofport` -1 or an `error` (e.g. no such device);
    /// - [`Error::Timeout`], [`Error::Transaction`], transport errors.
    pub async fn ensure_port(
        &self,
        bridge: &str,
        name: &str,
        external_ids: &BTreeMap<String, String>,
    ) -> Result<u32, Error> {
        self.ensure_port_with(bridge, name, &InterfaceSpec::default(), external_ids)
            .await
    }

    /// [`Client::ensure_port`] with the interface's type, options, MAC and MTU set as `spec`
    /// says (on an existing port too): `ovs-vsctl --may-exist add-port BR NAME -- set
    /// Interface NAME type=… options:…`. A tunnel is `type=geneve` with
    /// `options:remote_ip=flow`; a gateway `type=internal` with its `mac`.
    ///
    /// # Errors
    /// As [`Client::ensure_port`].
    pub async fn ensure_port_with(
        &self,
        bridge: &str,
        name: &str,
        spec: &InterfaceSpec,
        external_ids: &BTreeMap<String, String>,
    ) -> Result<u32, Error> {
        let r = self
            .transact(
                DB,
                Transaction::new()
                    .select("Bridge", by_name(bridge), Some(&["_uuid", "ports"]))
                    .select("Port", by_name(name), Some(&["_uuid"]))
                    .build(),
            )
            .await?;
        let br = r[0].rows().first().ok_or_else(|| Error::NotFound {
            table: "Bridge",
            name: bridge.into(),
        })?;
        let ids = string_map(external_ids);
        let txn = if let Some(port) = r[1].rows().first().and_then(uuid_of) {
            let on_bridge = br
                .get("ports")
                .is_some_and(|p| p.as_set().iter().any(|a| a.as_uuid() == Some(&port)));
            if !on_bridge {
                return Err(Error::WrongBridge {
                    port: name.into(),
                    expected: bridge.into(),
                    actual: self.bridge_of(&port).await?.unwrap_or_default(),
                });
            }
            let mut iface = spec.columns();
            iface.push(("external_ids", ids.clone()));
            Transaction::new()
                .update("Interface", by_name(name), iface)
                .update("Port", by_name(name), [("external_ids", ids)])
        } else {
            Transaction::new()
                .insert_named(
                    "Interface",
                    {
                        let mut iface = spec.columns();
                        iface.push(("name", name.into()));
                        iface.push(("external_ids", ids.clone()));
                        iface
                    },
                    "iface",
                )
                .insert_named(
                    "Port",
                    [
                        ("name", name.into()),
                        ("interfaces", Value::named_uuid("iface")),
                        ("external_ids", ids),
                    ],
                    "port",
                )
                .mutate(
                    "Bridge",
                    by_name(bridge),
                    [Mutation::insert("ports", Value::named_uuid("port"))],
                )
        };
        let r = self
            .transact_and_wait(txn, &format!("add port {name} to {bridge}"))
            .await?;
        if r.last().and_then(OpResult::count) == Some(0) {
            return Err(Error::NotFound {
                table: "Bridge",
                name: bridge.into(),
            });
        }
        self.wait_ofport(name).await
    }

    async fn bridge_of(&self, port: &Uuid) -> Result<Option<String>, Error> {
        let rows = self
            .select_rows(
                "Bridge",
                [Condition::new(
                    "ports",
                    crate::Function::Includes,
                    port.clone(),
                )],
                &["name"],
            )
            .await?;
        Ok(rows
            .first()
            .and_then(|r| r.get("name")?.as_str().map(str::to_owned)))
    }

    async fn wait_ofport(&self, name: &str) -> Result<u32, Error> {
        let deadline = Instant::now() + self.wait_timeout;
        loop {
            let rows = self
                .select_rows("Interface", by_name(name), &["ofport", "error"])
                .await?;
            let row = rows.first().ok_or_else(|| Error::NotFound {
                table: "Interface",
                name: name.into(),
            })?;
            let ofport = row.get("ofport").and_then(Value::as_i64);
            let error = row.get("error").and_then(Value::as_str).map(str::to_owned);
            match ofport {
                Some(p) if p > 0 && error.is_none() => {
                    return u32::try_from(p).map_err(|_| Error::Interface {
                        name: name.into(),
                        ofport,
                        error,
                    })
                }
                Some(-1) => {
                    return Err(Error::Interface {
                        name: name.into(),
                        ofport,
                        error,
                    })
                }
                _ if error.is_some() => {
                    return Err(Error::Interface {
                        name: name.into(),
                        ofport,
                        error,
                    })
                }
                _ => {}
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!("an ofport for interface {name}"),
                    after: self.wait_timeout,
                });
            }
            // Blocks in ovsdb-server until ovs-vswitchd writes the interface's ofport or error
            // (RFC 7047 §5.2.6 `wait`); a timed-out wait just reads again.
            let txn = Transaction::new().wait(
                "Interface",
                by_name(name),
                &["ofport", "error"],
                WaitUntil::Ne,
                vec![[
                    ("ofport".to_owned(), Value::empty_set()),
                    ("error".to_owned(), Value::empty_set()),
                ]
                .into()],
                Some(wait_slice(deadline)),
            );
            match self.transact(DB, txn.build()).await {
                Ok(_) | Err(Error::Transaction { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Removes a port (and its interfaces) from `bridge` (`ovs-vsctl --if-exists del-port BR NAME`):
    /// deletes it from `Bridge.ports` and lets garbage collection remove the rows. Idempotent.
    ///
    /// # Errors
    /// [`Error::Timeout`], transport errors.
    pub async fn delete_port(&self, bridge: &str, name: &str) -> Result<(), Error> {
        let rows = self.select_rows("Port", by_name(name), &["_uuid"]).await?;
        let Some(port) = rows.first().and_then(uuid_of) else {
            return Ok(());
        };
        let txn = Transaction::new().mutate(
            "Bridge",
            by_name(bridge),
            [Mutation::delete("ports", Value::set([port]))],
        );
        self.transact_and_wait(txn, &format!("delete port {name} from {bridge}"))
            .await?;
        Ok(())
    }

    /// The ports of `bridge`, sorted by name, without the bridge's own internal port
    /// (as `ovs-vsctl list-ports BR`). Reads one snapshot in one transaction.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the bridge does not exist, transport errors.
    pub async fn list_ports(&self, bridge: &str) -> Result<Vec<PortInfo>, Error> {
        let r = self
            .transact(
                DB,
                Transaction::new()
                    .select("Bridge", by_name(bridge), Some(&["ports"]))
                    .select("Port", [], Some(&["_uuid", "name", "interfaces"]))
                    .select(
                        "Interface",
                        [],
                        Some(&["_uuid", "ofport", "error", "external_ids"]),
                    )
                    .build(),
            )
            .await?;
        let br = r[0].rows().first().ok_or_else(|| Error::NotFound {
            table: "Bridge",
            name: bridge.into(),
        })?;
        let members: Vec<Uuid> = br
            .get("ports")
            .map(|p| {
                p.as_set()
                    .into_iter()
                    .filter_map(Atom::as_uuid)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let ifaces: BTreeMap<Uuid, &Row> = r[2]
            .rows()
            .iter()
            .filter_map(|row| Some((uuid_of(row)?, row)))
            .collect();
        let mut out = Vec::new();
        for port in r[1].rows() {
            let Some(uuid) = uuid_of(port) else { continue };
            let name = port.get("name").and_then(Value::as_str).unwrap_or_default();
            if !members.contains(&uuid) || name == bridge {
                continue;
            }
            let iface = port
                .get("interfaces")
                .and_then(|i| i.as_set().first().and_then(|a| a.as_uuid()).cloned())
                .and_then(|u| ifaces.get(&u).copied());
            let ofport = iface
                .and_then(|i| i.get("ofport")?.as_i64())
                .and_then(|p| u32::try_from(p).ok())
                .filter(|p| *p > 0);
            out.push(PortInfo {
                name: name.to_owned(),
                uuid,
                ofport,
                error: iface.and_then(|i| i.get("error")?.as_str().map(str::to_owned)),
                external_ids: iface
                    .and_then(|i| i.get("external_ids"))
                    .map(Value::as_string_map)
                    .unwrap_or_default(),
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}
