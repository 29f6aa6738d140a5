//! `docs/pipeline.md` must describe the pipeline the code declares.

fn section<'a>(doc: &'a str, name: &str) -> &'a str {
    let begin = format!("<!-- {name}:begin -->\n");
    let end = format!("<!-- {name}:end -->");
    let start = doc
        .find(&begin)
        .unwrap_or_else(|| panic!("docs/pipeline.md lacks {begin:?}"))
        + begin.len();
    let stop = doc[start..]
        .find(&end)
        .unwrap_or_else(|| panic!("docs/pipeline.md lacks {end:?}"))
        + start;
    &doc[start..stop]
}

#[test]
fn pipeline_doc_lists_the_declared_tables_in_order() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/pipeline.md")).unwrap();
    let expected = kakine::datapath::pipeline::markdown_table();
    assert_eq!(
        section(&doc, "tables"),
        expected,
        "docs/pipeline.md is out of date; replace the tables section with:\n{expected}"
    );
}

#[test]
fn pipeline_doc_lists_the_declared_registers() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/pipeline.md")).unwrap();
    let expected = kakine::datapath::pipeline::markdown_registers();
    assert_eq!(
        section(&doc, "registers"),
        expected,
        "docs/pipeline.md is out of date; replace the registers section with:\n{expected}"
    );
}

/// `KAKINE_REGEN_DOCS=1 cargo test --test docs_pipeline -- --ignored`: rewrites the two
/// sections of `docs/pipeline.md` from the declaration (the prose around them stays).
#[test]
#[ignore]
fn regenerate_the_pipeline_doc_sections() {
    if std::env::var_os("KAKINE_REGEN_DOCS").is_none() {
        return;
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/pipeline.md");
    let mut doc = std::fs::read_to_string(path).unwrap();
    for (name, text) in [
        ("tables", kakine::datapath::pipeline::markdown_table()),
        (
            "registers",
            kakine::datapath::pipeline::markdown_registers(),
        ),
    ] {
        let old = section(&doc, name).to_string();
        let begin = format!("<!-- {name}:begin -->\n");
        doc = doc.replacen(&format!("{begin}{old}"), &format!("{begin}{text}"), 1);
    }
    std::fs::write(path, doc).unwrap();
}
