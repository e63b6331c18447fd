-- AlterTable
ALTER TABLE "accounts" ADD COLUMN     "broadcast_footer" TEXT;
