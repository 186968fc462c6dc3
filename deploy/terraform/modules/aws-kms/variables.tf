variable "name" {
  description = "Name of the deployment; the alias is alias/<name>."
  type        = string
}

variable "deletion_window_in_days" {
  description = "Days a deleted key can still be recovered (7-30)."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags of every resource."
  type        = map(string)
  default     = {}
}
