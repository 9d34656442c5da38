"""Model building, tuning, evaluation and reporting for the churn classifier.

Pure library code: nothing here touches ZenML or MLflow. The pipeline steps call these
functions and log what they return.
"""
