//! The size limit of one flow: every FLOW_MOD the compiler emits must fit in one OpenFlow
//! message inside a bundle.
//!
//! An OpenFlow message carries its length in 16 bits (OF1.3 §7.1, `ofp_header.length`), so a
//! message is at most 65,535 bytes; the agent sends every FLOW_MOD inside an
//! `OFPT_BUNDLE_ADD_MESSAGE` (OF1.4 §7.3.9.6, 16 bytes of its own before the inner message), so a
//! FLOW_MOD, header included, may take at most 65,535 − 16 bytes. The only flows that can grow
//! without bound are the conjunctive match flows a rule's parts share (one 16-byte
//! `conjunction` action per part); the compiler keeps those small
//! (`MAX_SHARED_PARTS` in `rules.rs`), and [`check`] refuses, naming the rule, whatever would
//! still not fit, so an oversized flow never reaches the wire.

use super::*;

/// Bytes of `ofp_bundle_add_msg` before its inner message (header, bundle id, pad, flags).
const BUNDLE_ADD_OVERHEAD: usize = 16;

/// The largest FLOW_MOD message, header included, that fits in a bundle: 65,519 bytes.
pub const MAX_FLOW_MOD_BYTES: usize = u16::MAX as usize - BUNDLE_ADD_OVERHEAD;

/// The encoded size of `f` as a whole OFPT_FLOW_MOD message (8-byte header included), bytes:
/// measured by encoding it, so it is exact whatever the match and actions.
pub fn encoded_len(f: &FlowMod) -> usize {
    let mut buf = Vec::with_capacity(256);
    f.emit(&mut buf);
    8 + buf.len()
}

/// Checks every flow of `out` against [`MAX_FLOW_MOD_BYTES`].
///
/// Errors: [`CompileError::FlowTooLarge`] for the first flow that does not fit, naming the
/// rule its cookie points to (or the pipeline / pod flows).
pub(super) fn check(out: &Compiled) -> Result<(), CompileError> {
    for f in &out.flows {
        let bytes = encoded_len(f);
        if bytes <= MAX_FLOW_MOD_BYTES {
            continue;
        }
        let (_, category, object) = cookie::split(f.cookie);
        let owner = (category == cookie::POLICY)
            .then(|| out.rules.iter().find(|r| r.id == object))
            .flatten()
            .map(|r| Box::new(r.rule.clone()));
        let rule = match category {
            cookie::POLICY => owner
                .as_ref()
                .map_or_else(|| format!("rule id {object}"), |r| r.to_string()),
            cookie::POD => "the per-pod flows".to_string(),
            cookie::ISOLATION => "the NetworkPolicy isolation flows".to_string(),
            _ => "the pipeline's fixed flows".to_string(),
        };
        return Err(CompileError::FlowTooLarge {
            rule,
            owner,
            table: f.table_id,
            priority: f.priority,
            bytes,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::resolved::RuleRef;

    fn rule(id: u32) -> CompiledRule {
        CompiledRule {
            id,
            key: RuleKey("ClusterNetworkPolicy/securityops/wide/Egress/to-web".into()),
            rule: RuleRef {
                kind: "ClusterNetworkPolicy".into(),
                policy: "wide".into(),
                tier: "securityops".into(),
                rule: "to-web".into(),
            },
            direction: Direction::Egress,
            action: RuleAction::Allow,
            staged: false,
            priority: 100,
            flows: 1,
            dims: vec![],
        }
    }

    /// A flow of `n` conjunction actions, cookie of rule 7.
    fn shared_flow(n: u32) -> FlowMod {
        let actions = (1..=n)
            .map(|id| Action::Conjunction {
                id,
                clause: 1,
                n_clauses: 2,
            })
            .collect();
        let f = FlowMod::add(20, 100, Match::from(vec![]), vec![apply(actions)]);
        base::with_cookie(f, 1, cookie::POLICY, 7)
    }

    #[test]
    fn a_flow_is_measured_as_its_whole_flow_mod_message() {
        let f = shared_flow(1);
        let mut msg = Vec::new();
        openflow::Message::FlowMod(f.clone()).emit(1, &mut msg);
        assert_eq!(encoded_len(&f), msg.len());
        // 8 header + 40 fixed + 8 empty match + 8 apply-actions header + 16 conjunction.
        assert_eq!(encoded_len(&f), 80);
    }

    #[test]
    fn a_flow_past_one_bundled_message_is_refused_naming_its_rule() {
        let fits = (MAX_FLOW_MOD_BYTES as u32 - 64) / 16;
        let mut out = Compiled {
            flows: vec![shared_flow(fits)],
            rules: vec![rule(7)],
            ..Compiled::default()
        };
        check(&out).expect("a flow under the limit passes");
        out.flows.push(shared_flow(4100));
        let e = check(&out).unwrap_err();
        // The agent reports this rule's policy failed (and the others pending).
        assert!(
            matches!(&e, CompileError::FlowTooLarge { owner: Some(r), .. } if **r == rule(7).rule),
            "{e:?}"
        );
        let e = e.to_string();
        assert!(e.starts_with("securityops/wide/to-web: "), "{e}");
        assert!(e.contains("65664 bytes"), "{e}");
    }
}
