-- DropIndex
DROP INDEX "emails_account_id_created_at_idx";
