//! Migrations are reversible and the two backends have the same ones.

use munji::store::Db;

use crate::databases::TestDatabase;

#[test]
fn every_migration_has_a_down_script_and_both_backends_have_the_same_names() {
    let names = |backend: &str| {
        let mut names: Vec<String> = std::fs::read_dir(format!("{}/migrations/{backend}", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    };
    let postgres = names("postgres");
    assert_eq!(postgres, names("sqlite"));
    for up in postgres.iter().filter(|n| n.ends_with(".up.sql")) {
        let down = up.replace(".up.sql", ".down.sql");
        assert!(postgres.contains(&down), "{up} has no {down}");
    }
    assert!(postgres.iter().all(|n| n.ends_with(".up.sql") || n.ends_with(".down.sql")));
}

async fn migrate_revert_migrate(database: TestDatabase) {
    let db = Db::connect(&database.url).await.unwrap();
    db.migrate().await.unwrap();
    let known = db.known_versions();
    assert_eq!(db.applied_versions().await.unwrap(), known);
    let reverted = db.revert(Some(0)).await.unwrap();
    assert_eq!(reverted, known.iter().rev().copied().collect::<Vec<_>>());
    assert!(db.applied_versions().await.unwrap().is_empty());
    db.migrate().await.unwrap();
    assert_eq!(db.applied_versions().await.unwrap(), known);
    db.close().await;
}

#[tokio::test]
async fn every_migration_reverts_and_reapplies_on_sqlite() {
    migrate_revert_migrate(TestDatabase::sqlite()).await;
}

#[tokio::test]
async fn every_migration_reverts_and_reapplies_on_postgres() {
    migrate_revert_migrate(TestDatabase::postgres().await).await;
}
