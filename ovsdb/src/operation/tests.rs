//! Operations against the JSON of RFC 7047 §5.

use super::*;

#[test]
fn the_add_bridge_transaction_encodes_as_in_the_reference() {
    let ops = Transaction::new()
        .insert_named(
            "Interface",
            [("name", "br-test".into()), ("type", "internal".into())],
            "iface_br",
        )
        .mutate(
            "Open_vSwitch",
            [],
            [
                Mutation::insert("bridges", Value::named_uuid("br")),
                Mutation::new("next_cfg", Mutator::Add, 1),
            ],
        )
        .select("Open_vSwitch", [], Some(&["next_cfg"]))
        .comment("agent: add bridge br-test")
        .build();
    let got: Vec<Json> = ops.iter().map(Operation::to_json).collect();
    assert_eq!(
        Json::Array(got),
        json!([
            {"op":"insert","table":"Interface","row":{"name":"br-test","type":"internal"},"uuid-name":"iface_br"},
            {"op":"mutate","table":"Open_vSwitch","where":[],"mutations":[["bridges","insert",["named-uuid","br"]],["next_cfg","+=",1]]},
            {"op":"select","table":"Open_vSwitch","where":[],"columns":["next_cfg"]},
            {"op":"comment","comment":"agent: add bridge br-test"}
        ])
    );
}

#[test]
fn wait_encodes_until_rows_and_timeout() {
    let row: Row = [("name".to_owned(), Value::from("br-test"))].into();
    let op = Transaction::new()
        .wait(
            "Bridge",
            [Condition::eq("name", "br-test")],
            &["name"],
            WaitUntil::Eq,
            vec![row],
            Some(0),
        )
        .build();
    assert_eq!(
        op[0].to_json(),
        json!({"op":"wait","table":"Bridge","where":[["name","==","br-test"]],"columns":["name"],"until":"==","rows":[{"name":"br-test"}],"timeout":0})
    );
}

#[test]
fn results_decode_by_shape() {
    let u = "550e8400-e29b-41d4-a716-446655440000";
    assert_eq!(
        OpResult::from_json(&json!({"uuid":["uuid",u]}))
            .unwrap()
            .uuid()
            .unwrap()
            .as_str(),
        u
    );
    assert_eq!(
        OpResult::from_json(&json!({"count":2})).unwrap().count(),
        Some(2)
    );
    let rows = OpResult::from_json(&json!({"rows":[{"next_cfg":4}]})).unwrap();
    assert_eq!(rows.rows()[0]["next_cfg"].as_i64(), Some(4));
    assert_eq!(OpResult::from_json(&json!({})).unwrap(), OpResult::Empty);
}
