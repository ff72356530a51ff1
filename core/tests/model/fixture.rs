//! Loads a model fixture: the JSON inputs and the `.npy` reference c2.

use std::path::{Path, PathBuf};

use heterodyne_core::model::{HeterodyneModel, PhysicsParams, Scaling, TimeGrid, TimeOrigin};
use serde_json::Value;

pub struct Fixture {
    pub name: String,
    pub json: Value,
    pub model: HeterodyneModel,
    pub params: PhysicsParams,
    pub scaling: Scaling,
    pub c2: Vec<f64>,
}

/// The bundled model fixtures, sorted by name.
pub fn all() -> Vec<Fixture> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/model");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 4,
        "expected the four model fixtures in {}",
        dir.display()
    );
    paths.iter().map(|p| load(p)).collect()
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn load(path: &Path) -> Fixture {
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("read json")).expect("json");
    let params: PhysicsParams = serde_json::from_value(json["params"].clone()).expect("params");
    let n = json["n_frames"].as_u64().expect("n_frames") as usize;
    // The grid as the fixture defines it: origin and window from its keys (defaults: the
    // released window-relative origin and a window starting at frame 1).
    let origin = match json.get("time_origin").and_then(Value::as_str) {
        Some("absolute") => TimeOrigin::Absolute,
        Some("window") | None => TimeOrigin::Window,
        Some(other) => panic!("unknown time_origin {other}"),
    };
    let start = json.get("start_frame").and_then(Value::as_u64).unwrap_or(1) as usize;
    let end = json
        .get("end_frame")
        .and_then(Value::as_u64)
        .map_or(start + n - 1, |e| e as usize);
    let dt = json["dt"].as_f64().expect("dt");
    let grid = TimeGrid::from_frames(dt, start, end, origin).expect("grid");
    assert_eq!(grid.n, n);
    let model = HeterodyneModel::new(
        grid,
        json["q"].as_f64().expect("q"),
        f64s(&json["phi_angles_deg"]),
    )
    .expect("model");
    let scaling = Scaling {
        contrast: f64s(&json["contrast"]),
        offset: f64s(&json["offset"]),
    };
    let npy = path.with_file_name(json["c2_file"].as_str().expect("c2_file"));
    let c2 = read_npy_f64(&npy);
    assert_eq!(c2.len(), model.len(), "{}", npy.display());
    Fixture {
        name: path
            .file_stem()
            .expect("stem")
            .to_string_lossy()
            .into_owned(),
        json,
        model,
        params,
        scaling,
        c2,
    }
}

/// Minimal reader for a little-endian float64 C-order `.npy`.
fn read_npy_f64(path: &Path) -> Vec<f64> {
    let bytes = std::fs::read(path).expect("read npy");
    assert_eq!(&bytes[..6], b"\x93NUMPY", "{}", path.display());
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
    };
    let header = std::str::from_utf8(&bytes[start..start + header_len]).expect("header");
    assert!(header.contains("'<f8'") && header.contains("'fortran_order': False"));
    bytes[start + header_len..]
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect()
}
