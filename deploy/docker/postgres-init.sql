-- One database per node (DESIGN.md section 4), created at the first start of the compose
-- PostgreSQL (docker-entrypoint-initdb.d runs this once, on an empty data directory). Each
-- node applies its own schema migrations when it starts.
CREATE DATABASE zm_coord;
CREATE DATABASE zm_miner1;
CREATE DATABASE zm_miner2;
CREATE DATABASE zm_val1;
