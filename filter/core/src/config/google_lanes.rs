//! What a Gemini or Vertex AI lane must name: a model that fits in the request path,
//! for Vertex the Google Cloud project and location of its endpoint; and a mode Gemini
//! serves by translation (chat; embedding on the Gemini API).

use super::schema::{LaneMode, ProviderKind, Target};

/// A Google resource name segment (model, project, location): letters, digits, `-`,
/// `_`, `.` and `@` (Vertex model versions), so it can be put in a path as it is.
fn is_path_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
}

/// The problems of lane `t` (at document path `at`), as (path, message) pairs.
pub(super) fn problems(t: &Target, at: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let google = matches!(t.provider, ProviderKind::Gemini | ProviderKind::VertexAi);
    if google && !t.model.trim().is_empty() && !is_path_segment(&t.model) {
        out.push((
            format!("{at}.model"),
            format!(
                "expected a Gemini model id such as gemini-2.5-flash (letters, digits, '-', '_', '.', '@'), found '{}'",
                t.model
            ),
        ));
    }
    let mode_ok = match t.provider {
        ProviderKind::Gemini => t.mode != LaneMode::Completion,
        ProviderKind::VertexAi => t.mode.is_chat(),
        _ => true,
    };
    if !mode_ok {
        out.push((
            format!("{at}.mode"),
            format!(
                "{} lanes serve chat{}; legacy completion lanes are OpenAI or openai_compatible",
                t.provider.as_str(),
                if t.provider == ProviderKind::Gemini {
                    " and embedding"
                } else {
                    " only"
                }
            ),
        ));
    }
    let fields = [("project", &t.project), ("location", &t.location)];
    if t.provider == ProviderKind::VertexAi {
        for (name, value) in fields {
            match value {
                None => out.push((
                    format!("{at}.{name}"),
                    format!("a vertex_ai lane names its Google Cloud {name}"),
                )),
                Some(v) if !is_path_segment(v) => out.push((
                    format!("{at}.{name}"),
                    format!("expected a Google Cloud {name} id (letters, digits, '-', '_'), found '{v}'"),
                )),
                Some(_) => {}
            }
        }
    } else {
        for (name, value) in fields {
            if value.is_some() {
                out.push((
                    format!("{at}.{name}"),
                    format!("only vertex_ai lanes take a {name}"),
                ));
            }
        }
    }
    out
}
