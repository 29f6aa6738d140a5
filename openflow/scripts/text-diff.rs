//! The differential check of `text-diff.sh`: the base commit's text parsers (`old`) against the
//! working tree's (`new`) on a corpus of flow texts and their mutations; every result (value or
//! error) must have the same Debug text. Arguments: files of flow texts, one a line.
use std::collections::BTreeSet;

fn results(s: &str) -> (Vec<String>, Vec<String>) {
    use new::FlowModCommand as NC;
    use old::FlowModCommand as OC;
    let mut o = Vec::new();
    let mut n = Vec::new();
    o.push(format!("{:?}", s.parse::<old::FlowMod>()));
    n.push(format!("{:?}", s.parse::<new::FlowMod>()));
    for (oc, nc) in [
        (OC::Modify, NC::Modify),
        (OC::ModifyStrict, NC::ModifyStrict),
        (OC::Delete, NC::Delete),
        (OC::DeleteStrict, NC::DeleteStrict),
    ] {
        o.push(format!("{:?}", old::FlowMod::parse_with_command(s, oc)));
        n.push(format!("{:?}", new::FlowMod::parse_with_command(s, nc)));
    }
    o.push(format!("{:?}", old::FlowMod::parse_unchecked(s)));
    n.push(format!("{:?}", new::FlowMod::parse_unchecked(s)));
    o.push(format!("{:?}", s.parse::<old::Match>()));
    n.push(format!("{:?}", s.parse::<new::Match>()));
    o.push(format!("{:?}", old::Action::parse_list(s)));
    n.push(format!("{:?}", new::Action::parse_list(s)));
    o.push(format!("{:?}", s.parse::<old::Action>()));
    n.push(format!("{:?}", s.parse::<new::Action>()));
    o.push(format!("{:?}", old::text::parse_instructions(s)));
    n.push(format!("{:?}", new::text::parse_instructions(s)));
    (o, n)
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn main() {
    let mut base: BTreeSet<String> = BTreeSet::new();
    for path in std::env::args().skip(1) {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let line = line.rsplit('\t').next().unwrap_or(line);
            base.insert(line.to_string());
            // Pieces: the actions, each action, each match token.
            if let Some((h, a)) = line.split_once("actions=") {
                base.insert(a.to_string());
                base.insert(h.to_string());
                for x in a.split(',') {
                    base.insert(x.to_string());
                }
            }
        }
    }
    let base: Vec<String> = base.into_iter().collect();
    let pieces: Vec<&str> = base
        .iter()
        .flat_map(|l| l.split([',', ' ']))
        .filter(|p| !p.is_empty())
        .collect();
    let alphabet: Vec<char> = ",=()[]:/.->+| x0129afAF_\t".chars().collect();
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let mut inputs: Vec<String> = Vec::new();
    for l in &base {
        inputs.push(l.clone());
        let chars: Vec<char> = l.chars().collect();
        for i in 0..chars.len() {
            let mut c = chars.clone();
            c.remove(i);
            inputs.push(c.into_iter().collect());
        }
        for _ in 0..chars.len().min(200) {
            let mut c = chars.clone();
            let at = rng.below(c.len() + 1);
            c.insert(at, alphabet[rng.below(alphabet.len())]);
            inputs.push(c.iter().collect());
            let at = rng.below(c.len());
            c[at] = alphabet[rng.below(alphabet.len())];
            inputs.push(c.iter().collect());
            let cut = rng.below(chars.len() + 1);
            inputs.push(chars[..cut].iter().collect());
        }
        for _ in 0..20 {
            let p = pieces[rng.below(pieces.len())];
            let at = rng.below(chars.len() + 1);
            let mut c: String = chars[..at].iter().collect();
            c.push_str(p);
            c.extend(&chars[at..]);
            inputs.push(c);
        }
    }
    let mut bad = 0;
    let mut ok = [0usize; 10];
    for s in &inputs {
        let (o, n) = results(s);
        for (k, r) in n.iter().enumerate() {
            ok[k] += r.starts_with("Ok") as usize;
        }
        if o != n {
            bad += 1;
            if bad <= 20 {
                println!("DIFF on {s:?}");
                for (a, b) in o.iter().zip(&n) {
                    if a != b {
                        println!("  old {a}\n  new {b}");
                    }
                }
            }
        }
    }
    println!("{} inputs, {} differ; accepted per reader (add, mod, mod_strict, del, del_strict, unchecked, match, action list, action, instructions): {ok:?}", inputs.len(), bad);
    if bad > 0 {
        std::process::exit(1);
    }
}
