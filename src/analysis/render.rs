//! The dependency map drawn: Graphviz DOT, a standalone SVG (workloads on a circle, one arrow
//! per edge labelled with its service and connection count), and an HTML page holding the SVG
//! and the edge table, whose total a small script recomputes from the table when it loads.

use std::fmt::Write as _;

use crate::analysis::observed::{Edge, Graph, Workload};
use crate::analysis::walk::protocol_name;
use crate::policy::resolved::Protocol;

/// `TCP/5432`, `ICMP`.
pub fn service(e: &Edge) -> String {
    match e.protocol {
        Protocol::Icmp => "ICMP".to_string(),
        p => format!("{}/{}", protocol_name(p), e.port),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Graphviz DOT (`dot -Tsvg`): one node per workload (namespaces as clusters), one edge per
/// (client, server, service).
pub fn dot(g: &Graph) -> String {
    let mut out = String::from("digraph kakine {\n  rankdir=LR;\n  node [shape=box];\n");
    let mut namespaces: Vec<&str> = g
        .nodes
        .iter()
        .filter_map(|n| match n {
            Workload::App(ns, _) => Some(ns.as_str()),
            Workload::External(_) => None,
        })
        .collect();
    namespaces.dedup();
    for (i, ns) in namespaces.iter().enumerate() {
        let _ = writeln!(
            out,
            "  subgraph cluster_{i} {{\n    label=\"{}\";",
            escape(ns)
        );
        for n in &g.nodes {
            if matches!(n, Workload::App(x, _) if x == ns) {
                let _ = writeln!(out, "    \"{}\";", escape(&n.to_string()));
            }
        }
        out.push_str("  }\n");
    }
    for n in &g.nodes {
        if let Workload::External(_) = n {
            let _ = writeln!(out, "  \"{}\" [shape=ellipse];", n);
        }
    }
    for e in &g.edges {
        let _ = writeln!(
            out,
            "  \"{}\" -> \"{}\" [label=\"{} x{}\"];",
            escape(&e.from.to_string()),
            escape(&e.to.to_string()),
            service(e),
            e.connections
        );
    }
    out.push_str("}\n");
    out
}

/// A standalone SVG: workloads on a circle, an arrow per edge.
pub fn svg(g: &Graph) -> String {
    let n = g.nodes.len().max(1) as f64;
    let radius = 60.0 * n.max(3.0);
    let size = 2.0 * radius + 320.0;
    let c = size / 2.0;
    let pos = |w: &Workload| {
        let i = g.nodes.iter().position(|x| x == w).unwrap_or(0) as f64;
        let a = std::f64::consts::TAU * i / n - std::f64::consts::FRAC_PI_2;
        (c + radius * a.cos(), c + radius * a.sin())
    };
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{size:.0}\" height=\"{size:.0}\" viewBox=\"0 0 {size:.0} {size:.0}\" font-family=\"sans-serif\" font-size=\"13\">\n\
         <defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#555\"/></marker></defs>\n"
    );
    for e in &g.edges {
        let ((x1, y1), (x2, y2)) = (pos(&e.from), pos(&e.to));
        // Stop short of the node circles (radius 28).
        let (dx, dy) = (x2 - x1, y2 - y1);
        let len = (dx * dx + dy * dy).sqrt().max(1.0);
        let (ux, uy) = (dx / len, dy / len);
        let _ = writeln!(
            out,
            "<g class=\"edge\" data-from=\"{}\" data-to=\"{}\" data-connections=\"{}\"><line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#555\" marker-end=\"url(#arrow)\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{} x{}</text></g>",
            escape(&e.from.to_string()),
            escape(&e.to.to_string()),
            e.connections,
            x1 + 28.0 * ux,
            y1 + 28.0 * uy,
            x2 - 28.0 * ux,
            y2 - 28.0 * uy,
            (x1 + x2) / 2.0,
            (y1 + y2) / 2.0 - 4.0,
            service(e),
            e.connections
        );
    }
    for w in &g.nodes {
        let (x, y) = pos(w);
        let fill = match w {
            Workload::App(..) => "#dbe9f6",
            Workload::External(_) => "#f6e3db",
        };
        let _ = writeln!(
            out,
            "<g class=\"workload\"><circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"28\" fill=\"{fill}\" stroke=\"#333\"/><text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text></g>",
            y + 44.0,
            escape(&w.to_string())
        );
    }
    out.push_str("</svg>\n");
    out
}

/// A standalone HTML page: the SVG, the edge table, and the totals (workloads, edges,
/// connections) that a script recomputes from the table rows when the page loads, so a browser
/// that shows them ran the page.
pub fn html(g: &Graph, title: &str) -> String {
    let mut rows = String::new();
    for e in &g.edges {
        let _ = writeln!(
            rows,
            "<tr data-connections=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e.connections,
            escape(&e.from.to_string()),
            escape(&e.to.to_string()),
            service(e),
            e.connections
        );
    }
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title>\n\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #999;padding:2px 8px}}</style></head>\n\
         <body><h1>{title}</h1>\n\
         <p><span id=\"workloads\">{}</span> workloads, <span id=\"edges\">?</span> edges, <span id=\"connections\">?</span> connections</p>\n\
         {}\
         <table id=\"edge-table\"><tr><th>client</th><th>server</th><th>service</th><th>connections</th></tr>\n{rows}</table>\n\
         <script>\n\
         const rows = [...document.querySelectorAll('#edge-table tr[data-connections]')];\n\
         document.getElementById('edges').textContent = rows.length;\n\
         document.getElementById('connections').textContent = rows.reduce((s, r) => s + Number(r.dataset.connections), 0);\n\
         document.body.dataset.rendered = document.querySelectorAll('svg g.edge').length;\n\
         </script>\n</body></html>\n",
        g.nodes.len(),
        svg(g),
        title = escape(title),
    )
}
