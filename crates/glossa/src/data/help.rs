//! Paragraph extraction from LibreOffice's offline help pages.
//!
//! Every language's help is generated from the same sources, so a paragraph keeps its `id`
//! (`par_id3149842`, `hd_id3156104`) across languages: the page path plus the id aligns an English
//! paragraph with its human translation exactly, with no sentence aligner.

/// Text of every `<p id=…>` and `<h1…h6 id=…>` element, in page order, tags stripped and entities
/// decoded. Elements without an id are skipped: they cannot be aligned.
pub fn paragraphs(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        rest = &rest[open + 1..];
        let name_len = rest
            .find(|c: char| c.is_ascii_whitespace() || c == '>')
            .unwrap_or(rest.len());
        let name = &rest[..name_len];
        let is_block = name == "p"
            || (name.len() == 2
                && name.starts_with('h')
                && matches!(name.as_bytes()[1], b'1'..=b'6'));
        if !is_block {
            continue;
        }
        let Some(tag_end) = rest.find('>') else { break };
        let attrs = &rest[name_len..tag_end];
        let close = format!("</{name}>");
        let body_start = tag_end + 1;
        let Some(body_len) = rest[body_start..].find(&close) else {
            break;
        };
        if let Some(id) = attribute(attrs, "id") {
            let text = clean_inline(&rest[body_start..body_start + body_len]);
            if !text.is_empty() {
                out.push((id.to_string(), text));
            }
        }
        rest = &rest[body_start + body_len + close.len()..];
    }
    out
}

fn attribute<'a>(attrs: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = attrs;
    while let Some(at) = rest.find(name) {
        let before_ok = at == 0 || rest.as_bytes()[at - 1].is_ascii_whitespace();
        let after = &rest[at + name.len()..];
        if before_ok {
            if let Some(value) = after.strip_prefix("=\"") {
                return value.find('"').map(|end| &value[..end]);
            }
        }
        rest = after;
    }
    None
}

/// Strips tags, decodes entities and collapses whitespace.
pub fn clean_inline(fragment: &str) -> String {
    let mut text = String::with_capacity(fragment.len());
    let mut in_tag = false;
    for c in fragment.chars() {
        match (in_tag, c) {
            (false, '<') => in_tag = true,
            (true, '>') => {
                in_tag = false;
                // A tag between two words still separates them ("a<br/>b").
                text.push(' ');
            }
            (false, c) => text.push(c),
            (true, _) => {}
        }
    }
    let decoded = decode_entities(&text);
    // Tags placed a space before punctuation ("<span>OK</span>.") — pull it back.
    let collapsed = decoded.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed
        .replace(" .", ".")
        .replace(" ,", ",")
        .replace(" :", ":")
        .replace(" )", ")")
        .replace("( ", "(")
}

pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest[1..]
            .find(';')
            .filter(|&end| end <= 10)
            .and_then(|end| {
                let name = &rest[1..1 + end];
                let c = match name {
                    "amp" => Some('&'),
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "quot" => Some('"'),
                    "apos" => Some('\''),
                    "nbsp" => Some(' '),
                    _ if name.starts_with("#x") || name.starts_with("#X") => {
                        u32::from_str_radix(&name[2..], 16)
                            .ok()
                            .and_then(char::from_u32)
                    }
                    _ if name.starts_with('#') => name[1..].parse().ok().and_then(char::from_u32),
                    _ => None,
                };
                c.map(|c| (c, end + 2))
            });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_paragraphs_and_headings_with_ids() {
        let html = r#"<html><body><p dir="auto">no id</p>
<h2 id="hd_1" dir="auto">To Insert a Frame</h2>
<p id="par_1" class="paragraph">Choose <span class="emph">Insert - Frame</span>, and click OK.</p>
<h1 id="hd_2">
<a name="x"></a>Frames &amp; Columns</h1><p class="x" id="par_2">Tom&#39;s &lt;file&gt;&nbsp;here</p>
<pre id="code">not a block</pre>"#;
        assert_eq!(
            paragraphs(html),
            vec![
                ("hd_1".to_string(), "To Insert a Frame".to_string()),
                (
                    "par_1".to_string(),
                    "Choose Insert - Frame, and click OK.".to_string()
                ),
                ("hd_2".to_string(), "Frames & Columns".to_string()),
                ("par_2".to_string(), "Tom's <file> here".to_string()),
            ]
        );
    }

    #[test]
    fn unterminated_markup_ends_quietly() {
        assert!(paragraphs("<p id=\"a\">never closed").is_empty());
        assert!(paragraphs("<p id=\"a\"").is_empty());
        assert_eq!(
            decode_entities("a & b &bogus; &#xZZ;"),
            "a & b &bogus; &#xZZ;"
        );
    }
}
