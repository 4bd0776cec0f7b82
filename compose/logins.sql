-- Run once by the postgres service when it makes its data folder (docker-entrypoint-initdb.d),
-- before the migrate service deploys: the taskq roles, which the deploy then finds made (as on a
-- server where an administrator makes them; the deploy makes them itself when they are missing),
-- and the LOGIN roles the api and the worker services connect as, each a member of the taskq
-- roles its service needs.
CREATE ROLE taskq_owner NOLOGIN;
CREATE ROLE taskq_producer NOLOGIN;
CREATE ROLE taskq_worker NOLOGIN;
CREATE ROLE taskq_reader NOLOGIN;
CREATE ROLE taskq_admin NOLOGIN IN ROLE taskq_producer, taskq_worker, taskq_reader;
CREATE ROLE taskq_api_login LOGIN PASSWORD 'taskq_api' IN ROLE taskq_producer, taskq_reader, taskq_admin;
CREATE ROLE taskq_worker_login LOGIN PASSWORD 'taskq_worker' IN ROLE taskq_worker;
