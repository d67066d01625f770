package kube

import (
	"encoding/json"
	"strconv"
)

// The objects below are the few fields of the API's JSON that a diagnosis
// reads; encoding/json drops the rest.

type meta struct {
	Name              string            `json:"name"`
	Namespace         string            `json:"namespace"`
	UID               string            `json:"uid"`
	Labels            map[string]string `json:"labels"`
	Annotations       map[string]string `json:"annotations"`
	Generation        int64             `json:"generation"`
	DeletionTimestamp *string           `json:"deletionTimestamp"`
}

type condition struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// conditionOf finds the condition of a type; ok false when there is none.
func conditionOf(cs []condition, typ string) (condition, bool) {
	for _, c := range cs {
		if c.Type == typ {
			return c, true
		}
	}
	return condition{}, false
}

// intOrString is a port that is a number or a name (targetPort, a
// NetworkPolicy's port).
type intOrString struct {
	num  int
	name string
}

func (v *intOrString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &v.name)
	}
	return json.Unmarshal(b, &v.num)
}

func (v intOrString) String() string {
	if v.name != "" {
		return strconv.Quote(v.name)
	}
	return strconv.Itoa(v.num)
}

type labelSelector struct {
	MatchLabels      map[string]string `json:"matchLabels"`
	MatchExpressions []struct {
		Key      string   `json:"key"`
		Operator string   `json:"operator"`
		Values   []string `json:"values"`
	} `json:"matchExpressions"`
}

type service struct {
	Metadata meta `json:"metadata"`
	Spec     struct {
		Type         string            `json:"type"`
		ClusterIP    string            `json:"clusterIP"`
		ExternalName string            `json:"externalName"`
		Selector     map[string]string `json:"selector"`
		Ports        []servicePort     `json:"ports"`
	} `json:"spec"`
}

type servicePort struct {
	Name       string      `json:"name"`
	Protocol   string      `json:"protocol"`
	Port       int         `json:"port"`
	TargetPort intOrString `json:"targetPort"`
}

type serviceList struct {
	Items []service `json:"items"`
}

type endpointSlice struct {
	Metadata  meta `json:"metadata"`
	Endpoints []struct {
		Addresses  []string `json:"addresses"`
		Conditions struct {
			Ready *bool `json:"ready"`
		} `json:"conditions"`
		TargetRef *struct {
			Kind string `json:"kind"`
			Name string `json:"name"`
		} `json:"targetRef"`
	} `json:"endpoints"`
	Ports []struct {
		Name *string `json:"name"`
		Port *int    `json:"port"`
	} `json:"ports"`
}

type endpointSliceList struct {
	Items []endpointSlice `json:"items"`
}

type container struct {
	Name          string  `json:"name"`
	Image         string  `json:"image"`
	RestartPolicy *string `json:"restartPolicy"`
	Ports         []struct {
		Name          string `json:"name"`
		ContainerPort int    `json:"containerPort"`
		Protocol      string `json:"protocol"`
	} `json:"ports"`
}

type containerState struct {
	Waiting *struct {
		Reason  string `json:"reason"`
		Message string `json:"message"`
	} `json:"waiting"`
	Running *struct {
		StartedAt string `json:"startedAt"`
	} `json:"running"`
	Terminated *struct {
		ExitCode int    `json:"exitCode"`
		Signal   int    `json:"signal"`
		Reason   string `json:"reason"`
		Message  string `json:"message"`
	} `json:"terminated"`
}

type containerStatus struct {
	Name         string         `json:"name"`
	Image        string         `json:"image"`
	Ready        bool           `json:"ready"`
	Started      *bool          `json:"started"`
	RestartCount int            `json:"restartCount"`
	State        containerState `json:"state"`
	LastState    containerState `json:"lastState"`
}

type pod struct {
	Metadata meta `json:"metadata"`
	Spec     struct {
		NodeName       string      `json:"nodeName"`
		Containers     []container `json:"containers"`
		InitContainers []container `json:"initContainers"`
	} `json:"spec"`
	Status struct {
		Phase                 string            `json:"phase"`
		Reason                string            `json:"reason"`
		Message               string            `json:"message"`
		Conditions            []condition       `json:"conditions"`
		ContainerStatuses     []containerStatus `json:"containerStatuses"`
		InitContainerStatuses []containerStatus `json:"initContainerStatuses"`
	} `json:"status"`
}

type podList struct {
	Items []pod `json:"items"`
}

// workloadStatus is what Deployments and StatefulSets report alike.
type workloadStatus struct {
	ObservedGeneration int64       `json:"observedGeneration"`
	Replicas           int         `json:"replicas"`
	UpdatedReplicas    int         `json:"updatedReplicas"`
	ReadyReplicas      int         `json:"readyReplicas"`
	AvailableReplicas  int         `json:"availableReplicas"`
	CurrentRevision    string      `json:"currentRevision"` // StatefulSet
	UpdateRevision     string      `json:"updateRevision"`  // StatefulSet
	Conditions         []condition `json:"conditions"`
}

// workload is a Deployment or a StatefulSet.
type workload struct {
	Metadata meta `json:"metadata"`
	Spec     struct {
		Replicas *int          `json:"replicas"`
		Selector labelSelector `json:"selector"`
		Template struct {
			Metadata meta `json:"metadata"`
		} `json:"template"`
	} `json:"spec"`
	Status workloadStatus `json:"status"`
}

type workloadList struct {
	Items []workload `json:"items"`
}

type job struct {
	Metadata meta `json:"metadata"`
	Spec     struct {
		Completions *int          `json:"completions"`
		Selector    labelSelector `json:"selector"`
		Suspend     *bool         `json:"suspend"`
	} `json:"spec"`
	Status struct {
		Conditions []condition `json:"conditions"`
		Active     int         `json:"active"`
		Succeeded  int         `json:"succeeded"`
		Failed     int         `json:"failed"`
	} `json:"status"`
}

type networkPolicyPeer struct {
	PodSelector       *labelSelector `json:"podSelector"`
	NamespaceSelector *labelSelector `json:"namespaceSelector"`
	IPBlock           *struct {
		CIDR string `json:"cidr"`
	} `json:"ipBlock"`
}

type networkPolicyRule struct {
	Ports []struct {
		Protocol *string      `json:"protocol"`
		Port     *intOrString `json:"port"`
		EndPort  *int         `json:"endPort"`
	} `json:"ports"`
	From []networkPolicyPeer `json:"from"`
	To   []networkPolicyPeer `json:"to"`
}

type networkPolicy struct {
	Metadata meta `json:"metadata"`
	Spec     struct {
		PodSelector labelSelector       `json:"podSelector"`
		PolicyTypes []string            `json:"policyTypes"`
		Ingress     []networkPolicyRule `json:"ingress"`
		Egress      []networkPolicyRule `json:"egress"`
	} `json:"spec"`
}

type networkPolicyList struct {
	Items []networkPolicy `json:"items"`
}

type event struct {
	InvolvedObject struct {
		Kind string `json:"kind"`
		Name string `json:"name"`
	} `json:"involvedObject"`
	Reason        string `json:"reason"`
	Message       string `json:"message"`
	Type          string `json:"type"`
	Count         int    `json:"count"`
	LastTimestamp string `json:"lastTimestamp"`
}

type eventList struct {
	Items []event `json:"items"`
}
