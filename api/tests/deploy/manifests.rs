//! deploy/ loaded: every `*.yaml` (multi-document files split into their documents) parsed by its
//! `kind` into the k8s-openapi type of that kind. k8s-openapi ignores unknown fields, so each
//! object is serialized back and compared with what the file says: a misspelled or misplaced field
//! fails instead of being dropped without a word. A kind without a type here fails too, so a new
//! manifest cannot be added untested.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Namespace, PodSpec, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

macro_rules! kinds {
    ($($kind:ident),* $(,)?) => {
        /// A parsed manifest document.
        #[derive(Debug, Clone)]
        pub enum Object { $($kind(Box<$kind>)),* }

        impl Object {
            pub fn kind(&self) -> &'static str {
                match self { $(Object::$kind(_) => stringify!($kind)),* }
            }
        }

        fn parse_object(at: &str, kind: &str, value: &Value) -> Object {
            match kind {
                $(stringify!($kind) => Object::$kind(Box::new(typed::<$kind>(at, value))),)*
                other => panic!(
                    "{at}: kind `{other}` has no test: add it to `kinds!` in \
                     api/tests/deploy/manifests.rs, with assertions of what must hold for it"
                ),
            }
        }
    };
}

kinds!(
    Namespace,
    ServiceAccount,
    ConfigMap,
    Secret,
    Deployment,
    Service,
    ClusterRole,
    ClusterRoleBinding,
    Role,
    RoleBinding,
    NetworkPolicy,
);

/// One document: the file it is in (relative to deploy/) and the object.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub file: String,
    pub object: Object,
}

/// `kustomization.yaml`: only the fields used here are accepted, so a new one is looked at.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Kustomization {
    pub api_version: String,
    pub kind: String,
    pub resources: Vec<String>,
}

pub struct Deploy {
    pub manifests: Vec<Manifest>,
    pub kustomization: Kustomization,
}

/// Parse `value` as `T`, and fail if serializing it back loses or changes anything.
pub fn typed<T: DeserializeOwned + Serialize>(at: &str, value: &Value) -> T {
    let object: T = serde_json::from_value(value.clone())
        .unwrap_or_else(|e| panic!("{at}: not a valid {}: {e}", std::any::type_name::<T>()));
    let back = serde_json::to_value(&object).unwrap();
    let mut lost = Vec::new();
    differences("", value, &back, &mut lost);
    assert!(
        lost.is_empty(),
        "{at}: fields the Kubernetes type does not know (misspelled or misplaced?):\n  {}",
        lost.join("\n  ")
    );
    object
}

fn differences(path: &str, written: &Value, parsed: &Value, out: &mut Vec<String>) {
    match (written, parsed) {
        (Value::Object(w), Value::Object(p)) => {
            for (key, value) in w {
                let at = format!("{path}.{key}");
                match p.get(key) {
                    Some(q) => differences(&at, value, q, out),
                    None => out.push(format!("{at} (dropped)")),
                }
            }
            for key in p.keys().filter(|k| !w.contains_key(*k)) {
                out.push(format!("{path}.{key} (added)"));
            }
        }
        (Value::Array(w), Value::Array(p)) if w.len() == p.len() => {
            for (i, (a, b)) in w.iter().zip(p).enumerate() {
                differences(&format!("{path}[{i}]"), a, b, out);
            }
        }
        (w, p) if w == p => {}
        (w, p) => out.push(format!("{path}: {w} read as {p}")),
    }
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

/// The documents of one YAML file, as JSON values; comment-only documents are skipped.
pub fn documents(at: &str, text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|doc| serde_yaml::Value::deserialize(doc).unwrap_or_else(|e| panic!("{at}: {e}")))
        .filter(|doc| !doc.is_null())
        .map(|doc| serde_json::to_value(doc).unwrap_or_else(|e| panic!("{at}: {e}")))
        .collect()
}

pub fn load() -> Deploy {
    let root = deploy_dir();
    let mut files = Vec::new();
    yaml_files(&root, &mut files);
    files.sort();
    let mut manifests = Vec::new();
    let mut kustomization = None;
    for path in files {
        let file = path
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        if file == "kustomization.yaml" {
            kustomization = Some(
                serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("kustomization.yaml: {e}")),
            );
            continue;
        }
        let docs = documents(&file, &text);
        assert!(!docs.is_empty(), "{file}: no document");
        for (i, doc) in docs.iter().enumerate() {
            let at = format!("deploy/{file} (document {})", i + 1);
            let kind = doc["kind"]
                .as_str()
                .unwrap_or_else(|| panic!("{at}: no kind"));
            manifests.push(Manifest {
                file: file.clone(),
                object: parse_object(&at, kind, doc),
            });
        }
    }
    Deploy {
        manifests,
        kustomization: kustomization.expect("deploy/kustomization.yaml"),
    }
}

impl Deploy {
    /// Documents of the files `kubectl apply -k deploy/` installs.
    pub fn base(&self) -> impl Iterator<Item = &Manifest> {
        self.manifests
            .iter()
            .filter(|m| self.kustomization.resources.contains(&m.file))
    }

    /// Documents of the files that are not in the kustomization.
    pub fn optional(&self) -> impl Iterator<Item = &Manifest> {
        self.manifests
            .iter()
            .filter(|m| !self.kustomization.resources.contains(&m.file))
    }

    /// The one object of a kind in the base install.
    pub fn one<T>(&self, pick: impl Fn(&Object) -> Option<&T>) -> &T {
        let found: Vec<&T> = self.base().filter_map(|m| pick(&m.object)).collect();
        assert_eq!(
            found.len(),
            1,
            "exactly one such object in the base install"
        );
        found[0]
    }

    pub fn deployment(&self) -> &Deployment {
        self.one(|o| match o {
            Object::Deployment(d) => Some(d.as_ref()),
            _ => None,
        })
    }

    pub fn secret(&self) -> &Secret {
        self.one(|o| match o {
            Object::Secret(s) => Some(s.as_ref()),
            _ => None,
        })
    }

    pub fn config_map(&self) -> &ConfigMap {
        self.one(|o| match o {
            Object::ConfigMap(c) => Some(c.as_ref()),
            _ => None,
        })
    }

    pub fn pod(&self) -> &PodSpec {
        self.deployment()
            .spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .expect("pod spec")
    }

    pub fn pod_labels(&self) -> &BTreeMap<String, String> {
        self.deployment()
            .spec
            .as_ref()
            .unwrap()
            .template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.as_ref())
            .expect("pod template labels")
    }

    pub fn container(&self) -> &Container {
        let containers = &self.pod().containers;
        assert_eq!(containers.len(), 1, "one container: costmill");
        &containers[0]
    }

    /// costmill.toml of the ConfigMap, with the path COSTMILL_CONFIG names in the pod.
    pub fn costmill_toml(&self) -> (String, toml::Table) {
        let (path, key) = self.config_path();
        let text = self
            .config_map()
            .data
            .as_ref()
            .and_then(|d| d.get(&key))
            .unwrap_or_else(|| panic!("the ConfigMap has no key `{key}` (COSTMILL_CONFIG={path})"))
            .clone();
        let table = toml::from_str(&text)
            .unwrap_or_else(|e| panic!("the ConfigMap's {key} is not TOML: {e}"));
        (text, table)
    }

    /// COSTMILL_CONFIG and the ConfigMap key mounted there.
    pub fn config_path(&self) -> (String, String) {
        let container = self.container();
        let path = env_value(container, "COSTMILL_CONFIG").expect("COSTMILL_CONFIG is set");
        let mount = container
            .volume_mounts
            .iter()
            .flatten()
            .find(|m| path.starts_with(&format!("{}/", m.mount_path)))
            .unwrap_or_else(|| panic!("no volume is mounted where COSTMILL_CONFIG={path} lies"));
        assert_eq!(
            mount.read_only,
            Some(true),
            "the config is mounted read-only"
        );
        let volume = self
            .pod()
            .volumes
            .iter()
            .flatten()
            .find(|v| v.name == mount.name)
            .unwrap_or_else(|| panic!("no volume `{}`", mount.name));
        let source = volume
            .config_map
            .as_ref()
            .unwrap_or_else(|| panic!("volume `{}` is not the ConfigMap", volume.name));
        assert_eq!(
            Some(&source.name),
            self.config_map().metadata.name.as_ref(),
            "the mounted ConfigMap is the one of deploy/"
        );
        let file = &path[mount.mount_path.len() + 1..];
        let key = match &source.items {
            None => file.to_string(),
            Some(items) => items
                .iter()
                .find(|i| i.path == file)
                .unwrap_or_else(|| panic!("no item mounted as {file}"))
                .key
                .clone(),
        };
        (path, key)
    }

    /// The container port a probe or Service names (by number or by name).
    pub fn container_port(&self, port: &IntOrString) -> i32 {
        let ports = self.container().ports.as_ref().expect("container ports");
        let found = match port {
            IntOrString::Int(n) => ports.iter().find(|p| p.container_port == *n),
            IntOrString::String(name) => ports.iter().find(|p| p.name.as_ref() == Some(name)),
        };
        found
            .unwrap_or_else(|| panic!("{port:?} is not a port of the container"))
            .container_port
    }

    /// The container's environment with Secret references resolved from the Secret's stringData
    /// (the placeholders deploy/ ships).
    pub fn environment(&self) -> BTreeMap<String, String> {
        let data = self.secret().string_data.clone().unwrap_or_default();
        self.container()
            .env
            .iter()
            .flatten()
            .map(|var| {
                let value = match (&var.value, &var.value_from) {
                    (Some(value), None) => value.clone(),
                    (None, Some(from)) => {
                        let key = &from
                            .secret_key_ref
                            .as_ref()
                            .expect("a Secret reference")
                            .key;
                        data[key].clone()
                    }
                    _ => panic!("{}: a value or a Secret reference", var.name),
                };
                (var.name.clone(), value)
            })
            .collect()
    }
}

pub fn env_value(container: &Container, name: &str) -> Option<String> {
    container
        .env
        .iter()
        .flatten()
        .find(|v| v.name == name)
        .and_then(|v| v.value.clone())
}

/// Every pair of `selector` is among `labels`.
pub fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}
