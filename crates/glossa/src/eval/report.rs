//! The run report as a self-contained HTML page: the comparison table and bar charts drawn as
//! inline SVG (no scripts, no network), so it opens anywhere.

use crate::eval::{render_table, ModelReport};
use crate::train::EpochLog;

const COLORS: [&str; 4] = ["#4c72b0", "#dd8452", "#8c8c8c", "#55a868"];

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Grouped bars: one group per label, one bar per model; values 0..=max.
fn bar_chart(
    title: &str,
    labels: &[String],
    series: &[(String, Vec<Option<f32>>)],
    max: f32,
) -> String {
    let (w, h, left, bottom, top) = (860.0, 260.0, 40.0, 40.0, 30.0);
    let group = (w - left) / labels.len().max(1) as f32;
    let bar = group * 0.8 / series.len().max(1) as f32;
    let scale = (h - bottom - top) / max;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">"#
    );
    svg += &format!(
        r#"<text x="{left}" y="16" font-size="13" font-weight="bold">{}</text>"#,
        escape(title)
    );
    for tick in 0..=4 {
        let v = max * tick as f32 / 4.0;
        let y = h - bottom - v * scale;
        svg += &format!(
            r##"<line x1="{left}" x2="{w}" y1="{y}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{v:.0}</text>"##,
            left - 4.0,
            y + 4.0
        );
    }
    for (i, label) in labels.iter().enumerate() {
        let x0 = left + i as f32 * group + group * 0.1;
        for (s, (_, values)) in series.iter().enumerate() {
            if let Some(v) = values[i] {
                let bh = v.clamp(0.0, max) * scale;
                svg += &format!(
                    r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{bh:.1}" fill="{}"><title>{}: {v:.1}</title></rect>"#,
                    x0 + s as f32 * bar,
                    h - bottom - bh,
                    bar * 0.95,
                    COLORS[s % COLORS.len()],
                    escape(&series[s].0)
                );
            }
        }
        svg += &format!(
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            x0 + group * 0.4,
            h - bottom + 14.0,
            escape(label)
        );
    }
    for (s, (name, _)) in series.iter().enumerate() {
        let x = left + 10.0 + s as f32 * 200.0;
        svg += &format!(
            r#"<rect x="{x}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{}">{}</text>"#,
            h - 14.0,
            COLORS[s % COLORS.len()],
            x + 14.0,
            h - 5.0,
            escape(name)
        );
    }
    svg + "</svg>"
}

fn line_chart(title: &str, logs: &[EpochLog]) -> String {
    let (w, h, left, bottom, top) = (420.0f32, 220.0f32, 56.0f32, 30.0f32, 30.0f32);
    let values: Vec<f32> = logs
        .iter()
        .flat_map(|l| [Some(l.train_loss), l.dev_loss])
        .flatten()
        .map(|v| v * 1000.0)
        .collect();
    // Scale to the data's own range: the curves are what matters, not their distance from zero.
    let (lo, hi) = values
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    let pad = ((hi - lo) * 0.1).max(1e-3);
    let (lo, hi) = (lo - pad, hi + pad);
    let x = |i: usize| left + (w - left - 10.0) * i as f32 / (logs.len().max(2) - 1) as f32;
    let y = |v: f32| h - bottom - (h - bottom - top) * ((v * 1000.0 - lo) / (hi - lo));
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11"><text x="{left}" y="16" font-size="13" font-weight="bold">{}</text>"#,
        escape(title)
    );
    for tick in 0..=4 {
        let v = lo + (hi - lo) * tick as f32 / 4.0;
        let yy = y(v / 1000.0);
        svg += &format!(
            r##"<line x1="{left}" x2="{w}" y1="{yy:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{v:.2}</text>"##,
            left - 4.0,
            yy + 4.0
        );
    }
    type Get = fn(&EpochLog) -> Option<f32>;
    let curves: [(&str, &str, Get); 2] = [
        ("train", COLORS[0], |l| Some(l.train_loss)),
        ("dev", COLORS[1], |l| l.dev_loss),
    ];
    for (name, color, get) in curves {
        let points: Vec<String> = logs
            .iter()
            .enumerate()
            .filter_map(|(i, l)| get(l).map(|v| format!("{:.1},{:.1}", x(i), y(v))))
            .collect();
        svg += &format!(
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            points.join(" ")
        );
        if let Some(last) = logs.last().and_then(get) {
            svg += &format!(
                r#"<text x="{:.1}" y="{:.1}" fill="{color}" text-anchor="end">{name} {:.3}</text>"#,
                x(logs.len() - 1),
                y(last) - 6.0,
                last * 1000.0
            );
        }
    }
    for (i, l) in logs.iter().enumerate() {
        svg += &format!(
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            x(i),
            h - 12.0,
            l.epoch
        );
    }
    svg + &format!(
        r#"<text x="{left}" y="{}">MSE×1000 by epoch</text></svg>"#,
        h - 1.0
    )
}

/// The size–quality curve: size on disk (log scale) against Tatoeba mean and STS-benchmark,
/// one point per model; None with fewer than two models that have both a size and a figure.
fn size_chart(models: &[ModelReport]) -> Option<String> {
    let points = crate::eval::size_curve(models);
    if points.len() < 2 {
        return None;
    }
    let (w, h, left, bottom, top) = (860.0f64, 260.0f64, 40.0f64, 40.0f64, 30.0f64);
    let (lo, hi) = points.iter().fold((f64::MAX, f64::MIN), |(a, b), p| {
        (a.min(p.1.ln()), b.max(p.1.ln()))
    });
    let span = (hi - lo).max(1e-6);
    let x = |mb: f64| left + 20.0 + (w - left - 60.0) * (mb.ln() - lo) / span;
    let y = |v: f32| h - bottom - (h - bottom - top) * v.clamp(0.0, 100.0) as f64 / 100.0;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11"><text x="{left}" y="16" font-size="13" font-weight="bold">Size on disk (MB, log scale) against quality</text>"#
    );
    for tick in 0..=4 {
        let v = 25.0 * tick as f32;
        svg += &format!(
            r##"<line x1="{left}" x2="{w}" y1="{yy:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{v:.0}</text>"##,
            left - 4.0,
            y(v) + 4.0,
            yy = y(v)
        );
    }
    for (name, mb, ..) in &points {
        svg += &format!(
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{mb:.1}</text><title>{}</title>"#,
            x(*mb),
            h - bottom + 14.0,
            escape(name)
        );
    }
    type Get<'a> = fn(&(&'a str, f64, Option<f32>, Option<f32>)) -> Option<f32>;
    let series: [(&str, Get); 2] = [
        ("Tatoeba mean acc %", |p| p.2),
        ("STS-B Spearman ×100", |p| p.3),
    ];
    for (i, (label, get)) in series.iter().enumerate() {
        let line: Vec<String> = points
            .iter()
            .filter_map(|p| get(p).map(|v| format!("{:.1},{:.1}", x(p.1), y(v))))
            .collect();
        let color = COLORS[i];
        svg += &format!(
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            line.join(" ")
        );
        for pt in &line {
            let (px, py) = pt.split_once(',').expect("formatted above");
            svg += &format!(r#"<circle cx="{px}" cy="{py}" r="3" fill="{color}"/>"#);
        }
        svg += &format!(
            r#"<rect x="{}" y="{}" width="10" height="10" fill="{color}"/><text x="{}" y="{}">{label}</text>"#,
            left + 200.0 * i as f64,
            h - 14.0,
            left + 14.0 + 200.0 * i as f64,
            h - 5.0
        );
    }
    Some(svg + "</svg>")
}

/// The whole page.
pub fn html(
    title: &str,
    models: &[ModelReport],
    train_log: &[EpochLog],
    notes: &[String],
) -> String {
    let langs: Vec<String> = crate::eval::keys_of(models, |m| &m.tatoeba);
    let series = |f: &dyn Fn(&ModelReport, &str) -> Option<f32>,
                  keys: &[String]|
     -> Vec<(String, Vec<Option<f32>>)> {
        models
            .iter()
            .map(|m| (m.name.clone(), keys.iter().map(|k| f(m, k)).collect()))
            .collect()
    };
    let mut body = format!("<h1>{}</h1>", escape(title));
    for n in notes {
        body += &format!("<p>{}</p>", escape(n));
    }
    if !langs.is_empty() {
        body += &bar_chart(
            "Tatoeba retrieval accuracy (%), mean of both directions",
            &langs,
            &series(&|m, k| m.tatoeba.get(k).map(|r| r.mean), &langs),
            100.0,
        );
    }
    let sts: Vec<String> = crate::eval::keys_of(models, |m| &m.sts);
    if !sts.is_empty() {
        body += &bar_chart(
            "STS Spearman ×100",
            &sts,
            &series(&|m, k| m.sts.get(k).copied(), &sts),
            100.0,
        );
    }
    if let Some(chart) = size_chart(models) {
        body += &chart;
    }
    if !train_log.is_empty() {
        body += &line_chart("Student training: MSE to the teacher per epoch", train_log);
    }
    body += &format!("<pre>{}</pre>", escape(&render_table(models)));
    format!("<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title><style>body{{font-family:sans-serif;max-width:900px;margin:2em auto}}pre{{font-size:12px}}</style></head><body>{body}</body></html>", escape(title))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_holds_charts_table_and_escaped_names() {
        let m = crate::eval::sample_report("student <small>");
        let log = vec![EpochLog {
            epoch: 1,
            train_loss: 0.002,
            dev_loss: Some(0.003),
            examples_per_second: 1.0,
            seconds: 1.0,
        }];
        let page = html("run", &[m], &log, &["a note".into()]);
        assert!(page.matches("<svg").count() == 3, "{page}");
        assert!(page.contains("student &lt;small&gt;") && !page.contains("<small>"));
        assert!(page.contains("tatoeba deu acc %"));
    }

    #[test]
    fn several_sizes_of_one_student_draw_the_size_quality_curve() {
        let sizes = [460_800_000u64, 64_000_000, 32_000_000];
        let models: Vec<ModelReport> = sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| {
                let mut m = crate::eval::sample_report(&format!("student {i}"));
                m.size_bytes = Some(size);
                m.tatoeba_mean = Some(40.0 - i as f32);
                m
            })
            .collect();
        let page = html("curve", &models, &[], &[]);
        assert!(page.contains("Size on disk (MB, log scale)"), "{page}");
        // One point per model and series.
        assert_eq!(page.matches("<circle").count(), 6);
        let table = crate::eval::render_size_curve(&models).unwrap();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(
            lines[1].contains("460.8") && lines[3].contains("32.0"),
            "{table}"
        );
        // A single model has no curve.
        assert!(crate::eval::render_size_curve(&models[..1]).is_none());
        assert!(!html("one", &models[..1], &[], &[]).contains("log scale"));
    }
}
