//! NumPy `.npy` and `.npz` from any reader (a file natively, the bytes of a dropped file in
//! the browser): float64 or float32 arrays as float64, and the c2 stack of an archive with
//! arrays `c2` and optional `t`, `q`, `phi`.

use std::io::{Read, Seek};

use super::prepare::DataError;
use super::stack::RawStack;

/// An array's shape and its values as float64.
pub type Shaped = (Vec<usize>, Vec<f64>);

fn error(dataset: Option<&str>, reason: impl std::fmt::Display) -> DataError {
    DataError {
        dataset: dataset.map(str::to_string),
        reason: reason.to_string(),
    }
}

/// An array of any float dtype from a `.npy` stream, as float64 with its shape.
pub fn read_npy_array<R: Read + Seek>(mut reader: R) -> Result<Shaped, String> {
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

fn stack(
    (shape, c2): Shaped,
    q: Option<Vec<f64>>,
    phi: Option<Vec<f64>>,
    t: Option<Vec<f64>>,
    layout: &'static str,
) -> Result<RawStack, DataError> {
    RawStack::from_array(&shape, c2, q, phi, t, layout).map_err(|e| error(Some("c2"), e))
}

/// The c2 stack of a `.npy` holding c2 alone.
pub fn read_npy_stack<R: Read + Seek>(reader: R) -> Result<RawStack, DataError> {
    let arrays = read_npy_array(reader).map_err(|e| error(None, e))?;
    stack(arrays, None, None, None, "npy")
}

/// An open `.npz` archive.
pub struct Npz<R: Read + Seek>(zip::ZipArchive<R>);

impl<R: Read + Seek> Npz<R> {
    /// Opens the archive.
    pub fn new(reader: R) -> Result<Self, DataError> {
        zip::ZipArchive::new(reader)
            .map(Npz)
            .map_err(|e| error(None, format!("not a readable .npz archive: {e}")))
    }

    /// Array `name`, if the archive has it.
    pub fn array(&mut self, name: &str) -> Result<Option<Shaped>, DataError> {
        let entry = format!("{name}.npy");
        let mut f = match self.0.by_name(&entry) {
            Ok(f) => f,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => return Err(error(Some(name), e)),
        };
        let mut buf = Vec::new();
        f.read_to_end(&mut buf).map_err(|e| error(Some(name), e))?;
        read_npy_array(std::io::Cursor::new(buf))
            .map(Some)
            .map_err(|e| error(Some(name), e))
    }

    /// The c2 stack: array `c2` with optional `t`, `q`, `phi`.
    pub fn stack(&mut self) -> Result<RawStack, DataError> {
        let c2 = self
            .array("c2")?
            .ok_or_else(|| error(Some("c2"), "array not found in the archive"))?;
        let t = self.array("t")?.map(|a| a.1);
        let q = self.array("q")?.map(|a| a.1);
        let phi = self.array("phi")?.map(|a| a.1);
        stack(c2, q, phi, t, "npz")
    }
}
