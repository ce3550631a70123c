//! The model card of a student: `README.md` with Hugging Face metadata front matter, so the hub
//! and its tools can tell what a student directory is (languages, teacher as `base_model`,
//! licences, library, pipeline tag, and the scores of its own run as `model-index`).
//!
//! The front matter is built as a YAML tree and written by yaml-rust2's emitter, so quoting is
//! right whatever a path or name contains. `config.json` / `modules.json` are the formats' own
//! business: the Transformer student writes them (it is a sentence-transformers directory); a
//! subword or static student's format has none.

use std::path::Path;

use yaml_rust2::yaml::{Array, Hash};
use yaml_rust2::{Yaml, YamlEmitter, YamlLoader};

use crate::eval::ModelReport;
use crate::recipes::config::{Config, StudentKind};
use crate::{Error, Result};

/// What a card states about a run, gathered from its config and reports.
#[derive(Debug, Clone)]
pub struct ModelCard {
    /// A short name for the model-index (the run folder's name).
    pub name: String,
    /// Languages the student learnt, as two-letter codes, English first.
    pub languages: Vec<String>,
    /// The teacher as the run named it: a repo id or a directory.
    pub teacher: String,
    /// The teacher's repo id, when it has one (`base_model`).
    pub base_model: Option<String>,
    /// The teacher's licence, from its own card; `None` when it has no card saying so.
    pub teacher_license: Option<String>,
    /// Each data source the run read, with its licence.
    pub data_sources: Vec<(String, String)>,
    pub kind: StudentKind,
    /// Every model the run scored (teacher, student, controls), as in `report.json`.
    pub models: Vec<ModelReport>,
}

impl ModelCard {
    /// The card of a finished run of `config` with its evaluation `models`.
    pub fn of_run(config: &Config, models: &[ModelReport]) -> Self {
        let mut languages = vec!["en".to_string()];
        for lang in &config.corpus.languages {
            if !languages.contains(lang) {
                languages.push(lang.clone());
            }
        }
        let precomputed = config.teacher.embeddings.is_some();
        let teacher = match &config.teacher.embeddings {
            Some(path) => format!("precomputed embeddings ({})", path.display()),
            None => config.teacher.model.clone(),
        };
        let base_model = (!precomputed && is_repo_id(&config.teacher.model))
            .then(|| config.teacher.model.clone());
        let teacher_license = (!precomputed)
            .then(|| {
                // Only a look in the cache: a card is no reason to download a teacher.
                let hub = crate::hub::download::Hub::from_env().offline();
                crate::hub::resolve_with(&config.teacher.model, &hub).ok()
            })
            .flatten()
            .and_then(|dir| license_in_card(&dir.file("README.md")));
        ModelCard {
            name: config
                .run_dir
                .file_name()
                .map_or("student".into(), |n| n.to_string_lossy().into_owned()),
            languages,
            teacher,
            base_model,
            teacher_license,
            data_sources: data_sources(config),
            kind: config.student.kind,
            models: models.to_vec(),
        }
    }

    /// The whole `README.md`: front matter, then the card's text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut emitter = YamlEmitter::new(&mut out);
        emitter
            .dump(&self.front_matter())
            .expect("writing YAML to a String cannot fail");
        // The emitter opens the document with `---`; the card closes it.
        out.push_str("\n---\n\n");
        out.push_str(&self.body());
        out
    }

    /// Library that loads the directory as it is.
    fn library_name(&self) -> &'static str {
        match self.kind {
            StudentKind::Transformer => "sentence-transformers",
            StudentKind::Subword | StudentKind::Static => "glossa",
        }
    }

    fn front_matter(&self) -> Yaml {
        let mut h = Hash::new();
        let s = |v: &str| Yaml::String(v.to_string());
        let list = |v: &[String]| Yaml::Array(v.iter().map(|x| s(x)).collect());
        h.insert(s("language"), list(&self.languages));
        if let Some(base) = &self.base_model {
            h.insert(s("base_model"), s(base));
        }
        // The student derives from the teacher and the data: its terms are theirs together,
        // so the hub's single `license` is "other" and the parts are listed.
        h.insert(s("license"), s("other"));
        h.insert(s("license_name"), s("teacher-and-data-licences"));
        h.insert(s("library_name"), s(self.library_name()));
        h.insert(s("pipeline_tag"), s("sentence-similarity"));
        let tags = [
            "glossa",
            "distillation",
            "sentence-embeddings",
            "multilingual",
        ];
        h.insert(s("tags"), list(&tags.map(String::from)));
        h.insert(s("glossa"), self.provenance());
        h.insert(s("model-index"), self.model_index());
        Yaml::Hash(h)
    }

    /// glossa's own keys: teacher, its licence and the data sources with theirs.
    fn provenance(&self) -> Yaml {
        let s = |v: &str| Yaml::String(v.to_string());
        let mut h = Hash::new();
        h.insert(s("teacher"), s(&self.teacher));
        h.insert(
            s("teacher_license"),
            s(self.teacher_license.as_deref().unwrap_or("unknown")),
        );
        let sources = self.data_sources.iter().map(|(name, licence)| {
            let mut d = Hash::new();
            d.insert(s("name"), s(name));
            d.insert(s("license"), s(licence));
            Yaml::Hash(d)
        });
        h.insert(s("data_sources"), Yaml::Array(sources.collect()));
        h.insert(
            s("student_kind"),
            s(&format!("{:?}", self.kind).to_lowercase()),
        );
        Yaml::Hash(h)
    }

    /// The student's scores in the hub's `model-index` form: Tatoeba retrieval per language
    /// (accuracy, mean of both directions) and Spearman ×100 per STS set.
    fn model_index(&self) -> Yaml {
        let mut results = Array::new();
        if let Some(student) = self.student() {
            for (lang, r) in &student.tatoeba {
                results.push(result(
                    "bitext-mining",
                    &format!("Tatoeba {lang}-eng"),
                    "tatoeba",
                    Some(lang),
                    "accuracy",
                    r.mean,
                ));
            }
            for (set, v) in &student.sts {
                results.push(result(
                    "sentence-similarity",
                    set,
                    set,
                    None,
                    "spearman",
                    *v,
                ));
            }
        }
        let mut entry = Hash::new();
        entry.insert(Yaml::String("name".into()), Yaml::String(self.name.clone()));
        entry.insert(Yaml::String("results".into()), Yaml::Array(results));
        Yaml::Array(vec![Yaml::Hash(entry)])
    }

    /// The report of the student itself (the run's other rows are teacher and controls).
    fn student(&self) -> Option<&ModelReport> {
        self.models.iter().find(|m| m.name == "student")
    }
}

// The card's Markdown text, after the front matter.
impl ModelCard {
    fn body(&self) -> String {
        let mut out = format!(
            "# {}\n\nA {} sentence-embedding student distilled by glossa \
             from the teacher `{}`. Languages: {}.\n\n",
            self.name,
            format!("{:?}", self.kind).to_lowercase(),
            self.teacher,
            self.languages.join(", ")
        );
        out.push_str(&self.usage());
        out.push_str("## Evaluation (this run)\n\n");
        out.push_str(&markdown_table(&self.models));
        out.push_str(
            "\nTatoeba: retrieval accuracy (%) of the English line from its translation \
                      and back, averaged; STS: Spearman correlation ×100.\n\n",
        );
        out.push_str(
            "## Licences\n\nThe student is derived from its teacher and its training \
                      data; their terms apply together.\n\n",
        );
        out.push_str(&format!(
            "- teacher `{}`: {}\n",
            self.teacher,
            self.teacher_license
                .as_deref()
                .unwrap_or("unknown (the teacher has no card stating one)")
        ));
        for (name, licence) in &self.data_sources {
            out.push_str(&format!("- {name}: {licence}\n"));
        }
        out
    }

    fn usage(&self) -> String {
        let mut out = String::from(
            "## Usage\n\n```sh\nglossa embed --model <this directory> < sentences.txt\n```\n\n\
             ```python\nimport glossa\nmodel = glossa.load(\"<this directory or repo id>\")\n\
             vectors = model.encode([\"Hello world\"], batch_size=64)\n```\n\n",
        );
        if self.kind == StudentKind::Transformer {
            out.push_str(
                "It is also a sentence-transformers directory:\n\n```python\n\
                 from sentence_transformers import SentenceTransformer\n\
                 SentenceTransformer(\"<this directory>\").encode([\"Hello world\"])\n```\n\n",
            );
        }
        out
    }
}

/// The run's scores, one column per model, as a Markdown table.
fn markdown_table(models: &[ModelReport]) -> String {
    let mut langs: Vec<&String> = models.iter().flat_map(|m| m.tatoeba.keys()).collect();
    langs.sort();
    langs.dedup();
    let mut sts: Vec<&String> = models.iter().flat_map(|m| m.sts.keys()).collect();
    sts.sort();
    sts.dedup();
    let cell = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    for lang in &langs {
        let values = models
            .iter()
            .map(|m| cell(m.tatoeba.get(*lang).map(|r| format!("{:.1}", r.mean))));
        rows.push((format!("Tatoeba {lang}"), values.collect()));
    }
    let means = models
        .iter()
        .map(|m| cell(m.tatoeba_mean.map(|v| format!("{v:.1}"))));
    rows.push(("Tatoeba mean".into(), means.collect()));
    for set in &sts {
        let values = models
            .iter()
            .map(|m| cell(m.sts.get(*set).map(|v| format!("{v:.1}"))));
        rows.push((set.to_string(), values.collect()));
    }
    let sizes = models
        .iter()
        .map(|m| cell(m.size_bytes.map(|b| format!("{:.1} MB", b as f64 / 1e6))));
    rows.push(("size on disk".into(), sizes.collect()));
    let mut out = format!(
        "| | {} |\n|---|{}\n",
        models
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>()
            .join(" | "),
        "---|".repeat(models.len())
    );
    for (label, values) in rows {
        out.push_str(&format!("| {label} | {} |\n", values.join(" | ")));
    }
    out
}

/// One `model-index` result: a task, a dataset and one metric.
fn result(
    task: &str,
    dataset: &str,
    kind: &str,
    config: Option<&str>,
    metric: &str,
    value: f32,
) -> Yaml {
    let s = |v: &str| Yaml::String(v.to_string());
    let mut t = Hash::new();
    t.insert(s("type"), s(task));
    let mut d = Hash::new();
    d.insert(s("name"), s(dataset));
    d.insert(s("type"), s(kind));
    if let Some(c) = config {
        d.insert(s("config"), s(c));
    }
    d.insert(s("split"), s("test"));
    let mut m = Hash::new();
    m.insert(s("type"), s(metric));
    // Two decimals: the scores are percentages measured on a few thousand sentences.
    m.insert(s("value"), Yaml::Real(format!("{:.2}", value)));
    let mut r = Hash::new();
    r.insert(s("task"), Yaml::Hash(t));
    r.insert(s("dataset"), Yaml::Hash(d));
    r.insert(s("metrics"), Yaml::Array(vec![Yaml::Hash(m)]));
    Yaml::Hash(r)
}

/// `org/name`, and not a directory that happens to have one slash.
fn is_repo_id(spec: &str) -> bool {
    spec.split('/').count() == 2 && !spec.starts_with(['.', '/']) && !Path::new(spec).is_dir()
}

/// The data sources a run of `config` reads, each with its licence as far as glossa knows it.
fn data_sources(config: &Config) -> Vec<(String, String)> {
    let c = &config.corpus;
    let mut out = Vec::new();
    for root in &c.gettext_roots {
        out.push((
            format!("gettext translation catalogues under {}", root.display()),
            "each package's own licence (see /usr/share/doc/<package>/copyright)".into(),
        ));
    }
    if let Some(root) = &c.help_root {
        out.push((
            format!("LibreOffice help under {}", root.display()),
            "MPL-2.0".into(),
        ));
    }
    for dir in &c.dictionary_dirs {
        out.push((
            format!("FreeDict dictionaries under {}", dir.display()),
            "each dictionary's licence (most GPL-2.0-or-later; see its header)".into(),
        ));
    }
    if let (Some(dir), true) = (&c.wordnet_dir, c.max_english_only > 0) {
        out.push((
            format!("WordNet 3.0 under {}", dir.display()),
            "WordNet 3.0 licence".into(),
        ));
    }
    if let (Some(dir), true) = (&c.wordfreq_dir, c.words_per_language > 0) {
        out.push((
            format!("wordfreq word lists under {}", dir.display()),
            "CC-BY-SA-4.0".into(),
        ));
    }
    if let (Some(dir), true) = (&c.fortunes_dir, c.fortunes_per_language > 0) {
        out.push((
            format!("fortune databases under {}", dir.display()),
            "each fortunes package's licence (see /usr/share/doc/fortunes*/copyright)".into(),
        ));
    }
    if let Some(texts) = &config.teacher.texts {
        out.push((
            format!("precomputed teacher texts {}", texts.display()),
            "unknown".into(),
        ));
    }
    out
}

/// The YAML front matter of a Markdown file (between a first line `---` and the next `---`),
/// parsed; an error naming `path` when there is none or it is not YAML.
pub fn parse_front_matter(text: &str, path: &Path) -> Result<Yaml> {
    let rest = text
        .strip_prefix("---\n")
        .ok_or_else(|| Error::parse(path, 1, "no front matter: the file must start with ---"))?;
    let end = rest
        .find("\n---\n")
        .ok_or_else(|| Error::invalid(path, "front matter has no closing --- line"))?;
    let docs = YamlLoader::load_from_str(&rest[..end]).map_err(|e| {
        Error::parse(
            path,
            e.marker().line() + 1,
            format!("front matter: {}", e.info()),
        )
    })?;
    docs.into_iter()
        .next()
        .ok_or_else(|| Error::invalid(path, "front matter is empty"))
}

/// The `license` a model card's front matter states, if the card exists and says one.
pub fn license_in_card(readme: &Path) -> Option<String> {
    let text = std::fs::read_to_string(readme).ok()?;
    let meta = parse_front_matter(&text, readme).ok()?;
    meta["license"].as_str().map(str::to_string)
}

/// Writes `dir/README.md` for a finished run (atomically).
pub fn write(dir: &Path, config: &Config, models: &[ModelReport]) -> Result<()> {
    let card = ModelCard::of_run(config, models);
    crate::io::write_atomic(dir.join("README.md"), card.render().as_bytes())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::eval::Retrieval;

    fn report(name: &str, tatoeba: &[(&str, f32)], sts: &[(&str, f32)]) -> ModelReport {
        let tatoeba: BTreeMap<String, Retrieval> = tatoeba
            .iter()
            .map(|&(l, v)| {
                (
                    l.to_string(),
                    Retrieval {
                        xx_to_eng: v,
                        eng_to_xx: v,
                        mean: v,
                    },
                )
            })
            .collect();
        let mean = tatoeba.values().map(|r| r.mean).sum::<f32>() / tatoeba.len() as f32;
        ModelReport {
            name: name.into(),
            tatoeba,
            tatoeba_mean: Some(mean),
            tatoeba_all_mean: None,
            sts: sts.iter().map(|&(s, v)| (s.to_string(), v)).collect(),
            dev_mse: BTreeMap::new(),
            sentences_per_second: None,
            speed_method: None,
            size_bytes: Some(12_345_678),
        }
    }

    fn run_config(teacher: &str, run_dir: &Path) -> Config {
        let mut config = Config {
            run_dir: run_dir.to_path_buf(),
            ..Default::default()
        };
        config.teacher.model = teacher.into();
        config.corpus.languages = ["de", "ja", "de", "ar"].map(String::from).to_vec();
        config
    }

    #[test]
    fn front_matter_parses_and_states_languages_teacher_licences_and_metrics() {
        let tmp = tempfile::tempdir().unwrap();
        let teacher = tmp.path().join("teacher");
        std::fs::create_dir_all(&teacher).unwrap();
        std::fs::write(
            teacher.join("README.md"),
            "---\nlicense: mit\ntags: [x]\n---\n# T\n",
        )
        .unwrap();
        let config = run_config(teacher.to_str().unwrap(), &tmp.path().join("e5-small-run"));
        let models = [
            report(
                "teacher",
                &[("deu", 95.0), ("jpn", 90.0)],
                &[("stsb-test", 80.0)],
            ),
            report(
                "student",
                &[("deu", 91.5), ("jpn", 80.25)],
                &[("stsb-test", 77.7)],
            ),
        ];
        let dir = tmp.path().join("student");
        std::fs::create_dir_all(&dir).unwrap();
        write(&dir, &config, &models).unwrap();

        let path = dir.join("README.md");
        let text = std::fs::read_to_string(&path).unwrap();
        let meta = parse_front_matter(&text, &path).unwrap();
        let langs: Vec<&str> = meta["language"]
            .as_vec()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        assert_eq!(langs, ["en", "de", "ja", "ar"]);
        assert_eq!(
            meta["glossa"]["teacher"].as_str(),
            Some(teacher.to_str().unwrap())
        );
        assert_eq!(meta["glossa"]["teacher_license"].as_str(), Some("mit"));
        assert!(
            meta["base_model"].is_badvalue(),
            "a directory is no repo id"
        );
        assert_eq!(meta["library_name"].as_str(), Some("glossa"));
        assert_eq!(meta["pipeline_tag"].as_str(), Some("sentence-similarity"));
        let sources = meta["glossa"]["data_sources"].as_vec().unwrap();
        assert!(
            sources
                .iter()
                .any(|s| s["license"].as_str() == Some("MPL-2.0")),
            "{sources:?}"
        );

        let index = &meta["model-index"][0];
        assert_eq!(index["name"].as_str(), Some("e5-small-run"));
        let results = index["results"].as_vec().unwrap();
        let value = |dataset: &str| {
            let r = results
                .iter()
                .find(|r| r["dataset"]["name"].as_str() == Some(dataset))
                .unwrap();
            r["metrics"][0]["value"].as_f64().unwrap()
        };
        assert_eq!(
            results.len(),
            3,
            "two Tatoeba languages and one STS set, the student's only"
        );
        assert_eq!(value("Tatoeba deu-eng"), 91.5);
        assert_eq!(value("Tatoeba jpn-eng"), 80.25);
        assert_eq!(value("stsb-test"), 77.7);
        let body = &text[text.find("\n---\n").unwrap()..];
        assert!(body.contains("| Tatoeba mean | 92.5 | 85.9 |"), "{body}");
        assert!(
            body.contains("| size on disk | 12.3 MB | 12.3 MB |"),
            "{body}"
        );
    }

    #[test]
    fn a_repo_id_teacher_is_the_base_model_and_transformers_are_sentence_transformers() {
        let tmp = tempfile::tempdir().unwrap();
        let mut config = run_config("glossa-test/not-a-cached-model", &tmp.path().join("r"));
        config.student.kind = StudentKind::Transformer;
        let card = ModelCard::of_run(&config, &[]);
        let path = tmp.path().join("README.md");
        let meta = parse_front_matter(&card.render(), &path).unwrap();
        assert_eq!(
            meta["base_model"].as_str(),
            Some("glossa-test/not-a-cached-model")
        );
        assert_eq!(meta["glossa"]["teacher_license"].as_str(), Some("unknown"));
        assert_eq!(meta["library_name"].as_str(), Some("sentence-transformers"));
        assert!(meta["model-index"][0]["results"]
            .as_vec()
            .unwrap()
            .is_empty());
    }

    #[test]
    fn cards_without_or_with_broken_front_matter_are_refused_with_a_line() {
        let path = Path::new("README.md");
        let err = parse_front_matter("# no metadata\n", path)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("README.md:1:") && err.contains("no front matter"),
            "{err}"
        );
        let err = parse_front_matter("---\nlicense: mit\n", path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no closing ---"), "{err}");
        let err = parse_front_matter("---\na: 1\nb: [unclosed\n---\n", path)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("README.md:"), "{err}");
        assert_eq!(license_in_card(Path::new("/no/such/README.md")), None);
    }
}
