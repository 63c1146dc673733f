from tests.clinical_review.test_review_charts import clients

__all__ = ["clients"]
