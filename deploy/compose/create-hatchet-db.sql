-- Hatchet keeps its state in its own database, owned by the platform's role.
CREATE DATABASE hatchet OWNER zvt;
