//! The devices a user signed in from (issue 20), in both backends: the sled tree `devices`
//! (key: uid, NUL, device id) and the PostgreSQL table `idaas_home.devices` (migration 8).
//! Values are the versioned JSON record `StoredDevice::V1` in both. A user's devices go when
//! the user goes. The list is bounded per user by the caller
//! (`service::devices::MAX_PER_USER`: the least recently seen is evicted).

use serde::{Deserialize, Serialize};

use super::per_user::Table;
use super::pg::PgStore;
use super::{decode, encode, SledStore, StoreError};
use crate::model::KnownDevice;

/// The sled tree of devices.
pub(super) const DEVICES: &str = "devices";

/// Migration 6 of the PostgreSQL schema: known devices.
pub(super) const TABLE_SQL: &str = "
    CREATE TABLE idaas_home.devices (
        uid TEXT COLLATE \"C\" NOT NULL,
        id TEXT COLLATE \"C\" NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (uid, id)
    );
";

const TABLE: Table = Table {
    list: "SELECT value FROM idaas_home.devices WHERE uid = $1 ORDER BY id",
    put: "INSERT INTO idaas_home.devices (uid, id, value) VALUES ($1, $2, $3)
          ON CONFLICT (uid, id) DO UPDATE SET value = EXCLUDED.value",
    delete: "DELETE FROM idaas_home.devices WHERE uid = $1 AND id = $2",
};

/// Known devices, part of every [`super::Store`].
pub trait DeviceStore {
    /// Creates or replaces `uid`'s device `device.id`.
    fn put_device(&self, uid: &str, device: &KnownDevice) -> Result<(), StoreError>;
    /// All of `uid`'s devices, ordered by id.
    fn list_devices(&self, uid: &str) -> Result<Vec<KnownDevice>, StoreError>;
    /// Forgets `uid`'s device `id`; `false` if there was none.
    fn delete_device(&self, uid: &str, id: &str) -> Result<bool, StoreError>;
}

#[derive(Serialize, Deserialize)]
enum StoredDevice {
    V1(KnownDevice),
}

fn device_from(bytes: &[u8]) -> Result<KnownDevice, StoreError> {
    let StoredDevice::V1(d) = decode(DEVICES, bytes)?;
    Ok(d)
}

fn device_bytes(d: &KnownDevice) -> Result<Vec<u8>, StoreError> {
    encode(&StoredDevice::V1(d.clone()))
}

impl DeviceStore for SledStore {
    fn put_device(&self, uid: &str, device: &KnownDevice) -> Result<(), StoreError> {
        self.per_user_put(&self.devices, uid, &device.id, device_bytes(device)?)
    }

    fn list_devices(&self, uid: &str) -> Result<Vec<KnownDevice>, StoreError> {
        self.per_user_list(&self.devices, uid)?.iter().map(|v| device_from(v)).collect()
    }

    fn delete_device(&self, uid: &str, id: &str) -> Result<bool, StoreError> {
        self.per_user_delete(&self.devices, uid, id)
    }
}

impl DeviceStore for PgStore {
    fn put_device(&self, uid: &str, device: &KnownDevice) -> Result<(), StoreError> {
        let text = String::from_utf8(device_bytes(device)?).map_err(|e| StoreError::Encode(e.to_string()))?;
        self.per_user_put(&TABLE, uid, &device.id, text)
    }

    fn list_devices(&self, uid: &str) -> Result<Vec<KnownDevice>, StoreError> {
        self.per_user_list(&TABLE, uid)?.iter().map(|v| device_from(v.as_bytes())).collect()
    }

    fn delete_device(&self, uid: &str, id: &str) -> Result<bool, StoreError> {
        self.per_user_delete(&TABLE, uid, id)
    }
}
