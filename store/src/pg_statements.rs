//! PostgreSQL connections that keep their prepared statements: a report's
//! twenty statements are parsed and planned once per connection instead of
//! once per report, and each costs one round trip instead of two.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};

use postgres::types::ToSql;
use postgres::{Client, Row, Statement, Transaction};
use r2d2_postgres::PostgresConnectionManager;

pub(crate) type Tls = tokio_postgres_rustls::MakeRustlsConnect;

/// A pooled connection and the statements prepared on it.
pub(crate) struct Conn {
    pub client: Client,
    pub statements: HashMap<String, Statement>,
}

impl Deref for Conn {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

/// The pool's manager: connections as [`PostgresConnectionManager`] makes
/// them, each with an empty statement cache.
pub(crate) struct Manager(pub PostgresConnectionManager<Tls>);

impl r2d2::ManageConnection for Manager {
    type Connection = Conn;
    type Error = postgres::Error;

    fn connect(&self) -> Result<Conn, postgres::Error> {
        Ok(Conn {
            client: self.0.connect()?,
            statements: HashMap::new(),
        })
    }

    fn is_valid(&self, conn: &mut Conn) -> Result<(), postgres::Error> {
        self.0.is_valid(&mut conn.client)
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        self.0.has_broken(&mut conn.client)
    }
}

/// A transaction whose statements come from its connection's cache.
pub(crate) struct Tx<'a, 'c> {
    pub tx: &'a mut Transaction<'c>,
    pub statements: &'a mut HashMap<String, Statement>,
}

/// SQL text, prepared once per connection.
pub(crate) trait Sql {
    fn statement(&self, t: &mut Tx<'_, '_>) -> Result<Statement, postgres::Error>;
}

impl Sql for str {
    fn statement(&self, t: &mut Tx<'_, '_>) -> Result<Statement, postgres::Error> {
        if let Some(s) = t.statements.get(self) {
            return Ok(s.clone());
        }
        let s = t.tx.prepare(self)?;
        t.statements.insert(self.to_string(), s.clone());
        Ok(s)
    }
}

impl Sql for String {
    fn statement(&self, t: &mut Tx<'_, '_>) -> Result<Statement, postgres::Error> {
        self.as_str().statement(t)
    }
}

type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

impl Tx<'_, '_> {
    pub fn query<S: Sql + ?Sized>(
        &mut self,
        sql: &S,
        p: Params<'_>,
    ) -> Result<Vec<Row>, postgres::Error> {
        let s = sql.statement(self)?;
        self.tx.query(&s, p)
    }

    pub fn query_opt<S: Sql + ?Sized>(
        &mut self,
        sql: &S,
        p: Params<'_>,
    ) -> Result<Option<Row>, postgres::Error> {
        let s = sql.statement(self)?;
        self.tx.query_opt(&s, p)
    }

    pub fn execute<S: Sql + ?Sized>(
        &mut self,
        sql: &S,
        p: Params<'_>,
    ) -> Result<u64, postgres::Error> {
        let s = sql.statement(self)?;
        self.tx.execute(&s, p)
    }
}
