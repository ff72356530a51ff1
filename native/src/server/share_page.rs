//! The read-only page behind a share link: the fitted parameters, the posterior summary
//! and the plots of one result. Plain HTML with no scripts, fonts or outside resources,
//! so it opens on an offline beamline network; the web app takes this view over later.

use serde_json::Value;

/// `text` with HTML's special characters escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn number(v: &Value) -> String {
    match v.as_f64() {
        Some(x) if x != 0.0 && (x.abs() >= 1e4 || x.abs() < 1e-3) => format!("{x:.6e}"),
        Some(x) => format!("{x:.6}"),
        None => "—".to_string(),
    }
}

/// One parameter table (`parameters` of a report).
fn parameter_rows(parameters: &Value) -> String {
    let mut rows = String::new();
    if let Some(map) = parameters.as_object() {
        for (name, p) in map {
            rows.push_str(&format!(
                "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                escape(name),
                number(&p["value"]),
                number(&p["std_error"]),
                number(&p["min"]),
                number(&p["max"]),
                if p["vary"].as_bool() == Some(false) { "fixed" } else { "free" },
            ));
        }
    }
    rows
}

fn posterior_rows(posterior: &Value) -> String {
    let mut rows = String::new();
    if let Some(map) = posterior.as_object() {
        for (name, s) in map {
            rows.push_str(&format!(
                "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                escape(name),
                number(&s["mean"]),
                number(&s["std"]),
                number(&s["hdi94_low"]),
                number(&s["hdi94_high"]),
                number(&s["r_hat"]),
                number(&s["ess_bulk"]),
            ));
        }
    }
    rows
}

/// The page for `result` (result.json), with plots `plots` served under `base`.
pub fn render(token_base: &str, job_id: &str, result: &Value, plots: &[String]) -> String {
    let mut body = String::new();
    let reports: Vec<(String, &Value)> = match result["angles"].as_array() {
        Some(angles) => angles
            .iter()
            .map(|a| (format!("φ = {}°", number(&a["phi"])), a))
            .collect(),
        None => vec![(String::new(), result)],
    };
    for (title, r) in reports {
        if !title.is_empty() {
            body.push_str(&format!("<h2>{}</h2>\n", escape(&title)));
        }
        body.push_str(&format!(
            "<p>χ² = {} · reduced χ² = {} · iterations {} · {}</p>\n",
            number(&r["chi2"]),
            number(&r["reduced_chi2"]),
            escape(&r["iterations"].to_string()),
            if r["converged"].as_bool() == Some(true) {
                "converged"
            } else {
                "<strong>not converged</strong>"
            }
        ));
        body.push_str(
            "<table><caption>NLSQ estimates</caption><thead><tr><th scope=\"col\">parameter</th><th scope=\"col\">value</th><th scope=\"col\">std error</th><th scope=\"col\">min</th><th scope=\"col\">max</th><th scope=\"col\"></th></tr></thead><tbody>\n",
        );
        body.push_str(&parameter_rows(&r["parameters"]));
        body.push_str("</tbody></table>\n");
        if r["posterior"].is_object() {
            body.push_str(
                "<table><caption>Posterior (CMC)</caption><thead><tr><th scope=\"col\">parameter</th><th scope=\"col\">mean</th><th scope=\"col\">std</th><th scope=\"col\">HDI 94 % low</th><th scope=\"col\">HDI 94 % high</th><th scope=\"col\">R̂</th><th scope=\"col\">ESS</th></tr></thead><tbody>\n",
            );
            body.push_str(&posterior_rows(&r["posterior"]));
            body.push_str("</tbody></table>\n");
        }
    }
    for name in plots {
        body.push_str(&format!(
            "<figure><img src=\"{base}/plots/{n}\" alt=\"{n}\"><figcaption>{n}</figcaption></figure>\n",
            base = escape(token_base),
            n = escape(name)
        ));
    }
    format!(
        "<!doctype html>
<html lang=\"en\"><head><meta charset=\"utf-8\">
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">
<title>Heterodyne XPCS result {id}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; padding: 0 1rem; color: #111; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
caption {{ text-align: left; font-weight: bold; padding: .3rem 0; }}
th, td {{ padding: .2rem .8rem; border-bottom: 1px solid #ddd; text-align: right; font-variant-numeric: tabular-nums; }}
th[scope=row] {{ text-align: left; font-family: monospace; }}
img {{ max-width: 100%; }}
</style></head>
<body>
<header><h1>Heterodyne XPCS result</h1>
<p>Read-only shared view · job <code>{id}</code> · method {method} · data <code>{data}</code> ·
<a href=\"{base}\">result.json</a> · <a href=\"{base}/fit.npz\">fit.npz</a></p></header>
<main>
{body}</main>
</body></html>
",
        id = escape(job_id),
        method = escape(result["method"].as_str().unwrap_or("nlsq")),
        data = escape(result["data_file"].as_str().unwrap_or("")),
        base = escape(token_base),
    )
}
