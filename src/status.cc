#include "flit/status.h"

namespace flit {

std::string_view to_string(Status s) {
  switch (s) {
    case Status::kOk:
      return "Ok";
    case Status::kDeadlineExceeded:
      return "DeadlineExceeded";
    case Status::kCancelled:
      return "Cancelled";
    case Status::kUnavailable:
      return "Unavailable";
    case Status::kUnknownOutcome:
      return "UnknownOutcome";
    case Status::kResourceExhausted:
      return "ResourceExhausted";
    case Status::kInvalidArgument:
      return "InvalidArgument";
    case Status::kUnimplemented:
      return "Unimplemented";
    case Status::kPermissionDenied:
      return "PermissionDenied";
    case Status::kInternal:
      return "Internal";
    case Status::kResponseTooLarge:
      return "ResponseTooLarge";
  }
  return "Internal";
}

}  // namespace flit
