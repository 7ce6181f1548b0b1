DROP TABLE ephemeral;
