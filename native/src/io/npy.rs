//! NumPy `.npy` and `.npz` output.

use std::fs::File;
use std::path::Path;

use ndarray::{Array1, Array3};
use ndarray_npy::{NpzWriter, WriteNpyExt};

use super::atomic::write_atomically;
use super::error::IoError;
use super::stack::C2Stack;

fn c2_array(stack: &C2Stack, path: &Path) -> Result<Array3<f64>, IoError> {
    Array3::from_shape_vec((stack.n_phi(), stack.n, stack.n), stack.c2.clone())
        .map_err(|e| IoError::dataset(path, "c2", e))
}

/// Writes `c2` alone as `.npy` (shape `[phi, t1, t2]`).
pub fn write_npy(path: &Path, stack: &C2Stack) -> Result<(), IoError> {
    let c2 = c2_array(stack, path)?;
    write_atomically(path, |tmp| {
        let file = File::create(tmp).map_err(|e| IoError::file(path, e))?;
        c2.write_npy(std::io::BufWriter::new(file))
            .map_err(|e| IoError::dataset(path, "c2", e))
    })
}

/// Writes `.npz` with arrays `c2 [phi, t1, t2]`, `t` (s), `phi` (degrees), `q` (1/Å).
pub fn write_npz(path: &Path, stack: &C2Stack) -> Result<(), IoError> {
    let c2 = c2_array(stack, path)?;
    write_atomically(path, |tmp| {
        let file = File::create(tmp).map_err(|e| IoError::file(path, e))?;
        let mut npz = NpzWriter::new(std::io::BufWriter::new(file));
        let err = |name: &str| {
            let name = name.to_string();
            move |e: ndarray_npy::WriteNpzError| IoError::dataset(path, name.clone(), e)
        };
        npz.add_array("c2", &c2).map_err(err("c2"))?;
        npz.add_array("t", &Array1::from(stack.t.clone()))
            .map_err(err("t"))?;
        npz.add_array("phi", &Array1::from(stack.phi.clone()))
            .map_err(err("phi"))?;
        npz.add_array("q", &Array1::from(vec![stack.q]))
            .map_err(err("q"))?;
        npz.finish().map_err(err("(archive)"))?;
        Ok(())
    })
}

/// An array's shape and its values as float64.
type Shaped = (Vec<usize>, Vec<f64>);

/// An array of any float dtype from a `.npy` stream, as float64 with its shape.
fn read_any_npy<R: std::io::Read + std::io::Seek>(mut reader: R) -> Result<Shaped, String> {
    use ndarray::ArrayD;
    use ndarray_npy::ReadNpyExt;
    let start = reader.stream_position().map_err(|e| e.to_string())?;
    match ArrayD::<f64>::read_npy(&mut reader) {
        Ok(a) => Ok((a.shape().to_vec(), a.iter().copied().collect())),
        Err(first) => {
            reader
                .seek(std::io::SeekFrom::Start(start))
                .map_err(|e| e.to_string())?;
            ArrayD::<f32>::read_npy(&mut reader)
                .map(|a| {
                    (
                        a.shape().to_vec(),
                        a.iter().map(|&v| f64::from(v)).collect(),
                    )
                })
                .map_err(|_| format!("expected a float64 or float32 array: {first}"))
        }
    }
}

fn stack_from_arrays(
    path: &Path,
    (shape, c2): Shaped,
    q: Option<Vec<f64>>,
    phi: Option<Vec<f64>>,
    t: Option<Vec<f64>>,
    layout: &'static str,
) -> Result<crate::io::RawStack, IoError> {
    crate::io::RawStack::from_array(&shape, c2, q, phi, t, layout)
        .map_err(|e| IoError::dataset(path, "c2", e))
}

/// Reads a `.npy` holding c2 alone.
pub fn read_npy(path: &Path) -> Result<crate::io::RawStack, IoError> {
    let file = File::open(path).map_err(|e| IoError::file(path, e))?;
    let arrays = read_any_npy(std::io::BufReader::new(file)).map_err(|e| IoError::file(path, e))?;
    stack_from_arrays(path, arrays, None, None, None, "npy")
}

/// Reads a `.npz` with arrays `c2` and optional `t`, `q`, `phi`.
pub fn read_npz(path: &Path) -> Result<crate::io::RawStack, IoError> {
    use std::io::Read;
    let file = File::open(path).map_err(|e| IoError::file(path, e))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| IoError::file(path, format!("not a readable .npz archive: {e}")))?;
    let mut get = |name: &str| -> Result<Option<Shaped>, IoError> {
        let entry = format!("{name}.npy");
        let mut f = match zip.by_name(&entry) {
            Ok(f) => f,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => return Err(IoError::dataset(path, name, e)),
        };
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)
            .map_err(|e| IoError::dataset(path, name, e))?;
        read_any_npy(std::io::Cursor::new(buf))
            .map(Some)
            .map_err(|e| IoError::dataset(path, name, e))
    };
    let c2 =
        get("c2")?.ok_or_else(|| IoError::dataset(path, "c2", "array not found in the archive"))?;
    let t = get("t")?.map(|a| a.1);
    let q = get("q")?.map(|a| a.1);
    let phi = get("phi")?.map(|a| a.1);
    stack_from_arrays(path, c2, q, phi, t, "npz")
}

/// Reads a weights array: a `.npy`, or the array `weights` of a `.npz`.
pub fn read_weights(path: &Path) -> Result<Vec<f64>, IoError> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "npy" => {
            let file = File::open(path).map_err(|e| IoError::file(path, e))?;
            Ok(read_any_npy(std::io::BufReader::new(file))
                .map_err(|e| IoError::file(path, e))?
                .1)
        }
        "npz" => {
            use std::io::Read;
            let file = File::open(path).map_err(|e| IoError::file(path, e))?;
            let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
                .map_err(|e| IoError::file(path, format!("not a readable .npz archive: {e}")))?;
            let mut f = zip
                .by_name("weights.npy")
                .map_err(|_| IoError::dataset(path, "weights", "array not found in the archive"))?;
            let mut buf = Vec::new();
            f.read_to_end(&mut buf)
                .map_err(|e| IoError::dataset(path, "weights", e))?;
            Ok(read_any_npy(std::io::Cursor::new(buf))
                .map_err(|e| IoError::dataset(path, "weights", e))?
                .1)
        }
        _ => Err(IoError::file(path, "weights must be a .npy or .npz file")),
    }
}
