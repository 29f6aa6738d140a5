//! Where a YAML error sits, for a message a person can act on: the document's object
//! (`Kind namespace/name`, read from its `kind` and `metadata` lines) and the field path of the
//! line (`spec.ingress[0].from`), from the text's indentation. Best effort: the parser failed, so
//! this reads lines, not a tree.

/// The (1-based) line number a parser message names (`... at line 7, column 3`).
pub fn line_of(message: &str) -> Option<usize> {
    let rest = &message[message.find("line ")? + 5..];
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// The lines of the document holding `line` (1-based): (first line number, its lines).
fn document_at(text: &str, line: usize) -> (usize, Vec<&str>) {
    let mut start = 1;
    let mut doc = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let n = i + 1;
        if l.starts_with("---") {
            if n >= line {
                break;
            }
            start = n + 1;
            doc.clear();
            continue;
        }
        doc.push(l);
    }
    (start, doc)
}

fn scalar(v: &str) -> String {
    v.trim().trim_matches(|c| c == '"' || c == '\'').to_string()
}

/// `Kind namespace/name` of the document around `line`, when its lines say.
pub fn object_at(text: &str, line: usize) -> Option<String> {
    let (_, doc) = document_at(text, line);
    let mut kind = None;
    let (mut name, mut namespace) = (None, None);
    let mut in_meta = false;
    for l in &doc {
        if let Some(k) = l.strip_prefix("kind:") {
            kind = Some(scalar(k));
        }
        if let Some(m) = l.strip_prefix("metadata:") {
            in_meta = true;
            // Flow style: `metadata: {name: a, namespace: b}`.
            for part in m.trim().trim_matches(|c| c == '{' || c == '}').split(',') {
                if let Some((k, v)) = part.split_once(':') {
                    match k.trim() {
                        "name" => name = Some(scalar(v)),
                        "namespace" => namespace = Some(scalar(v)),
                        _ => {}
                    }
                }
            }
            continue;
        }
        if !l.starts_with([' ', '\t']) {
            in_meta = false;
        } else if in_meta {
            if let Some((k, v)) = l.trim().split_once(':') {
                match k {
                    "name" if name.is_none() => name = Some(scalar(v)),
                    "namespace" if namespace.is_none() => namespace = Some(scalar(v)),
                    _ => {}
                }
            }
        }
    }
    let kind = kind?;
    Some(match (namespace, name) {
        (Some(ns), Some(n)) => format!("{kind} {ns}/{n}"),
        (None, Some(n)) => format!("{kind} {n}"),
        _ => kind,
    })
}

/// The field path of `line` (1-based) from the indentation of the lines before it.
pub fn path_at(text: &str, line: usize) -> String {
    let (start, doc) = document_at(text, line);
    // (indent, segment, is a list index)
    let mut stack: Vec<(usize, String, bool)> = Vec::new();
    for (i, l) in doc.iter().enumerate() {
        if start + i > line {
            break;
        }
        let content = l.trim_start();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let mut col = l.len() - content.len();
        let mut rest = content;
        while let Some(r) = rest
            .strip_prefix("- ")
            .or(if rest == "-" { Some("") } else { None })
        {
            // A list may sit at its key's indentation: only deeper entries end here.
            while stack.last().is_some_and(|(ind, _, _)| *ind > col) {
                stack.pop();
            }
            let next = match stack.last() {
                Some((ind, seg, true)) if *ind == col => {
                    let n: usize = seg
                        .trim_matches(|c| c == '[' || c == ']')
                        .parse()
                        .unwrap_or(0);
                    stack.pop();
                    n + 1
                }
                _ => 0,
            };
            stack.push((col, format!("[{next}]"), true));
            col += 2;
            rest = r.trim_start();
        }
        if let Some((key, _)) = rest.split_once(':') {
            if !key.starts_with(['{', '[', '"', '\'']) {
                while stack.last().is_some_and(|(ind, _, _)| *ind >= col) {
                    stack.pop();
                }
                stack.push((col, key.trim().to_string(), false));
            }
        }
    }
    let mut path = String::new();
    for (_, seg, idx) in &stack {
        if !idx && !path.is_empty() {
            path.push('.');
        }
        path.push_str(seg);
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
apiVersion: v1
kind: A
metadata: {name: first}
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata:
  name: acnp
spec:
  ingress:
  - action: Allow
    from:
    - podSelector: {}
  - action: Drop
    ports:
      - port: 80
        port: 81
";

    #[test]
    fn the_object_comes_from_the_documents_kind_and_metadata() {
        assert_eq!(object_at(TEXT, 2).as_deref(), Some("A first"));
        assert_eq!(
            object_at(TEXT, 16).as_deref(),
            Some("ClusterNetworkPolicy acnp")
        );
    }

    #[test]
    fn the_path_follows_keys_and_list_items_by_indentation() {
        assert_eq!(path_at(TEXT, 13), "spec.ingress[0].from[0].podSelector");
        assert_eq!(path_at(TEXT, 17), "spec.ingress[1].ports[0].port");
        assert_eq!(path_at(TEXT, 8), "metadata.name");
    }

    #[test]
    fn the_line_is_read_from_the_parser_message() {
        assert_eq!(line_of("duplicate key at line 17, column 9"), Some(17));
        assert_eq!(line_of("no position"), None);
    }
}
