//! Named numbers in `realtime_marks`: how far a follower of the events log has read, when a
//! scheduled job last ran. Every follower that must count each event once claims its batch here.

use crate::db::{Db, Exec};
use crate::error::AppResult;

/// The mark `name`, if it was ever set.
pub async fn get(db: &Db, name: &str) -> AppResult<Option<i64>> {
    let v: Vec<i64> = db
        .fetch_all(
            "SELECT value AS id FROM realtime_marks WHERE name = $1",
            vec![name.into()],
        )
        .await?;
    Ok(v.first().copied())
}

pub async fn set<E: Exec>(exec: &mut E, name: &str, value: i64) -> AppResult<()> {
    exec.run(
        "INSERT INTO realtime_marks (name, value) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        vec![name.into(), value.into()],
    )
    .await?;
    Ok(())
}

/// Claims the events after `from` up to `to` for this follower: moves mark `name` from `from`
/// (0: never set) to `to` in the caller's transaction. False when another follower moved it
/// first (the caller then leaves the batch alone; its transaction's commit makes the claim).
pub async fn claim<E: Exec>(tx: &mut E, name: &str, from: i64, to: i64) -> AppResult<bool> {
    let moved = tx
        .run(
            "UPDATE realtime_marks SET value = $2 WHERE name = $3 AND value = $1",
            vec![from.into(), to.into(), name.into()],
        )
        .await?;
    if moved > 0 {
        return Ok(true);
    }
    let inserted = tx
        .run(
            "INSERT INTO realtime_marks (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO NOTHING",
            vec![name.into(), to.into()],
        )
        .await?;
    Ok(inserted > 0 && from == 0)
}
