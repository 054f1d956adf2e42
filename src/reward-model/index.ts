// Learned reward model barrel (imports tfjs; kept apart from src/reward so the judges stay light).
// A scalar head on the policy transformer, trained on judge labels (regression or Bradley-Terry).
export * from "./reward-model";
